#ifndef QBALLOON_CLIBFUZZER_H
#define QBALLOON_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (compiler-rt, linked by -sanitize=fuzzer): it parses libFuzzer's options from the command
// line and fuzzes `callback`. A fuzz target calls it from its own `main`, because SwiftPM gives every
// executable a `main` and so libFuzzer's is never linked.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
