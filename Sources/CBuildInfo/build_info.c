// CBuildInfo is header-only (build_info.h); SwiftPM needs one source file in a C target.
#include "build_info.h"
