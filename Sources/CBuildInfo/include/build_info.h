// The version a build was stamped with: `make release` passes -Xcc -DQBALLOON_VERSION="..." (from git describe);
// any other build is "dev".
#ifndef QBALLOON_BUILD_INFO_H
#define QBALLOON_BUILD_INFO_H

#ifndef QBALLOON_VERSION
#define QBALLOON_VERSION "dev"
#endif

static inline const char *qballoon_version(void) { return QBALLOON_VERSION; }

#endif
