/*
 * fake_mps.c — a stand-in for an MPS control daemon in tests/soft/inside.sh:
 * listens on <dir>/control (a Unix stream socket, as the daemon's), says
 * "ready" on stdout, and accepts and closes connections until it is killed
 * or 60 s have passed, so `vmig run` can be tested choosing MPS without a
 * GPU.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (argc != 2 || snprintf(a.sun_path, sizeof(a.sun_path), "%s/control", argv[1]) >=
			     (int)sizeof(a.sun_path)) {
		fprintf(stderr, "usage: fake_mps DIR (short enough for a socket path)\n");
		return 2;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	unlink(a.sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
		perror("fake_mps");
		return 1;
	}
	alarm(60);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}
