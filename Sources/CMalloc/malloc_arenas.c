#include "malloc_arenas.h"

#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static int arenas = 0;

int qballoon_malloc_arenas(void) { return arenas; }

#if defined(__GLIBC__) && defined(M_ARENA_MAX)
// glibc calls the functions of .init_array with the program's arguments.
__attribute__((constructor)) static void qballoon_limit_arenas(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc < 2 || strcmp(argv[1], "run") != 0 || getenv("MALLOC_ARENA_MAX") != NULL) return;
    if (mallopt(M_ARENA_MAX, 1) == 1) arenas = 1;
}
#endif
