/* main.c — placeholder entry point of the vmig command until cli/ lands. */
#include <stdio.h>

int main(void)
{
	fputs("vmig: not built yet\n", stderr);
	return 1;
}
