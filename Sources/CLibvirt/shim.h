#ifndef QBALLOON_CLIBVIRT_SHIM_H
#define QBALLOON_CLIBVIRT_SHIM_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

// libvirt prints every error to stderr unless a handler is set; the callers report errors themselves.
static void qb_virt_ignore_error(void *userdata, virErrorPtr error) { (void)userdata; (void)error; }
static inline void qb_virt_silence_errors(void) { virSetErrorFunc(NULL, qb_virt_ignore_error); }

#endif
