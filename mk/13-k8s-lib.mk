# Kubernetes (lib/k8s.c) reads the mig-minors table through lib/cdi.c, so the
# simulated NVML library leaves it out with cdi.o (LIB_YAML_OBJS).
LIB_YAML_OBJS += $(B)/obj/lib/k8s.o
