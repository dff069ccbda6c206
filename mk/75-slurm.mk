# Slurm: tests/slurm/slurm.sh runs Debian's slurmctld, slurmd and srun over
# a simulated node (gres.conf from `vmig slurm gres-conf`, the TaskProlog
# `vmig slurm task-prolog`), in a network namespace with only loopback;
# skipped, saying why, where the daemons or root are missing.
TESTS += tests/slurm/slurm.sh
