#ifndef QBALLOON_CJANSSON_SHIM_H
#define QBALLOON_CJANSSON_SHIM_H

#include <jansson.h>

// jansson exposes these as macros or static inline functions; plain functions are what Swift can call.
static inline int qb_json_type(const json_t *json) { return (int)json_typeof(json); }
static inline void qb_json_decref(json_t *json) { json_decref(json); }
static inline size_t qb_json_flags_compact_any(int sort_keys) {
    return JSON_COMPACT | JSON_ENCODE_ANY | (sort_keys ? JSON_SORT_KEYS : 0);
}
static inline size_t qb_json_flags_decode(int allow_nul) {
    return JSON_DECODE_ANY | (allow_nul ? JSON_ALLOW_NUL : 0);
}

#endif
