// glibc's malloc arenas for `qballoon run`, set before the program's first thread starts.
//
// glibc gives each thread that allocates an arena of its own (up to 8 a core). The daemon's threads (NIO's event
// loops, the Swift executor's) then each keep memory freed in their arena that another could have reused: about
// 1.5 MB more at 1000 VMs, for no measurable CPU (BENCHMARKS.md, issue 14). The setting must come before the first
// thread allocates, which is before Swift's `main` runs (the concurrency runtime starts its threads first): the
// constructor in malloc_arenas.c does it when the command is `run` and the operator has not chosen with
// MALLOC_ARENA_MAX. Other commands, and tests, keep glibc's default.
#ifndef QBALLOON_MALLOC_ARENAS_H
#define QBALLOON_MALLOC_ARENAS_H

/// The arenas `qballoon run` allows itself; 0 when it left glibc's default (another command, MALLOC_ARENA_MAX set,
/// or a C library without the setting).
int qballoon_malloc_arenas(void);

#endif
