#ifndef QBALLOON_CLIBVIRT_SHIM_H
#define QBALLOON_CLIBVIRT_SHIM_H

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libvirt's client library is loaded when it is first needed (`dlopen`), not linked: a daemon that follows only
// QMP monitors never maps libvirt and the ~50 libraries it pulls in (~10 MB resident), and a host without
// libvirt0 runs qballoon all the same. libvirt's headers give the types; each function qballoon calls is declared
// there under another name (the #defines below), and defined here under its own, calling through a pointer
// resolved on first use.
#define virInitialize qb_virt_declared_virInitialize
#define virConnectOpen qb_virt_declared_virConnectOpen
#define virConnectClose qb_virt_declared_virConnectClose
#define virConnectGetVersion qb_virt_declared_virConnectGetVersion
#define virConnectSetKeepAlive qb_virt_declared_virConnectSetKeepAlive
#define virConnectRegisterCloseCallback qb_virt_declared_virConnectRegisterCloseCallback
#define virConnectUnregisterCloseCallback qb_virt_declared_virConnectUnregisterCloseCallback
#define virConnectIsAlive qb_virt_declared_virConnectIsAlive
#define virDomainLookupByName qb_virt_declared_virDomainLookupByName
#define virDomainFree qb_virt_declared_virDomainFree
#define virDomainGetName qb_virt_declared_virDomainGetName
#define virDomainGetMaxMemory qb_virt_declared_virDomainGetMaxMemory
#define virDomainSetMemoryFlags qb_virt_declared_virDomainSetMemoryFlags
#define virDomainSetMemoryStatsPeriod qb_virt_declared_virDomainSetMemoryStatsPeriod
#define virDomainGetMetadata qb_virt_declared_virDomainGetMetadata
#define virDomainGetXMLDesc qb_virt_declared_virDomainGetXMLDesc
#define virDomainMemoryStats qb_virt_declared_virDomainMemoryStats
#define virConnectListAllDomains qb_virt_declared_virConnectListAllDomains
#define virConnectGetAllDomainStats qb_virt_declared_virConnectGetAllDomainStats
#define virDomainStatsRecordListFree qb_virt_declared_virDomainStatsRecordListFree
#define virDomainIsActive qb_virt_declared_virDomainIsActive
#define virConnectDomainEventRegisterAny qb_virt_declared_virConnectDomainEventRegisterAny
#define virConnectDomainEventDeregisterAny qb_virt_declared_virConnectDomainEventDeregisterAny
#define virEventRegisterDefaultImpl qb_virt_declared_virEventRegisterDefaultImpl
#define virEventRunDefaultImpl qb_virt_declared_virEventRunDefaultImpl
#define virGetLastError qb_virt_declared_virGetLastError
#define virResetLastError qb_virt_declared_virResetLastError
#define virGetLastErrorCode qb_virt_declared_virGetLastErrorCode
#define virSetErrorFunc qb_virt_declared_virSetErrorFunc
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#undef virInitialize
#undef virConnectOpen
#undef virConnectClose
#undef virConnectGetVersion
#undef virConnectSetKeepAlive
#undef virConnectRegisterCloseCallback
#undef virConnectUnregisterCloseCallback
#undef virConnectIsAlive
#undef virDomainLookupByName
#undef virDomainFree
#undef virDomainGetName
#undef virDomainGetMaxMemory
#undef virDomainSetMemoryFlags
#undef virDomainSetMemoryStatsPeriod
#undef virDomainGetMetadata
#undef virDomainGetXMLDesc
#undef virDomainMemoryStats
#undef virConnectListAllDomains
#undef virConnectGetAllDomainStats
#undef virDomainStatsRecordListFree
#undef virDomainIsActive
#undef virConnectDomainEventRegisterAny
#undef virConnectDomainEventDeregisterAny
#undef virEventRegisterDefaultImpl
#undef virEventRunDefaultImpl
#undef virGetLastError
#undef virResetLastError
#undef virGetLastErrorCode
#undef virSetErrorFunc

// Every libvirt function qballoon calls (each also renamed above and defined below).
#define QB_VIRT_FUNCTIONS(X) \
    X(virInitialize) \
    X(virConnectOpen) \
    X(virConnectClose) \
    X(virConnectGetVersion) \
    X(virConnectSetKeepAlive) \
    X(virConnectRegisterCloseCallback) \
    X(virConnectUnregisterCloseCallback) \
    X(virConnectIsAlive) \
    X(virDomainLookupByName) \
    X(virDomainFree) \
    X(virDomainGetName) \
    X(virDomainGetMaxMemory) \
    X(virDomainSetMemoryFlags) \
    X(virDomainSetMemoryStatsPeriod) \
    X(virDomainGetMetadata) \
    X(virDomainGetXMLDesc) \
    X(virDomainMemoryStats) \
    X(virConnectListAllDomains) \
    X(virConnectGetAllDomainStats) \
    X(virDomainStatsRecordListFree) \
    X(virDomainIsActive) \
    X(virConnectDomainEventRegisterAny) \
    X(virConnectDomainEventDeregisterAny) \
    X(virEventRegisterDefaultImpl) \
    X(virEventRunDefaultImpl) \
    X(virGetLastError) \
    X(virResetLastError) \
    X(virGetLastErrorCode) \
    X(virSetErrorFunc)

// The functions, resolved once per object file that uses them (Swift compiles this header into each file of
// QBalloonLibvirt in debug builds; dlopen hands every one the same library).
struct qb_virt_functions {
    int loaded;
    char error[512];
#define QB_VIRT_FIELD(name) __typeof__(qb_virt_declared_##name) *name;
    QB_VIRT_FUNCTIONS(QB_VIRT_FIELD)
#undef QB_VIRT_FIELD
};
// In a function, not a global of the header: Swift emits a header's functions where they are used, its globals
// nowhere.
static inline struct qb_virt_functions *qb_virt_table(void) {
    static struct qb_virt_functions table;
    return &table;
}

#define QB_VIRT_LIBRARY "libvirt.so.0"
#define QB_VIRT_RESOLVE(name)                                                                                  \
    do {                                                                                                       \
        qb_virt_table()->name = (__typeof__(qb_virt_table()->name))dlsym(library, #name);                      \
        if (!qb_virt_table()->name) {                                                                          \
            snprintf(qb_virt_table()->error, sizeof qb_virt_table()->error, "%s has no %s (libvirt too old?)", \
                QB_VIRT_LIBRARY, #name);                                                                       \
            return;                                                                                            \
        }                                                                                                      \
    } while (0);

static void qb_virt_load_once(void) {
    void *library = dlopen(QB_VIRT_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *reason = dlerror();
        snprintf(qb_virt_table()->error, sizeof qb_virt_table()->error, "%s", reason ? reason : QB_VIRT_LIBRARY);
        return;
    }
    QB_VIRT_FUNCTIONS(QB_VIRT_RESOLVE)
    qb_virt_table()->loaded = 1;
}

// Loads libvirt's client library if it is not yet; NULL when it is there, else why not (dlopen's words).
static inline const char *qb_virt_load(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, qb_virt_load_once);
    return qb_virt_table()->loaded ? NULL : qb_virt_table()->error;
}

// A call before a successful qb_virt_load is a bug in qballoon: it stops here, named, rather than at address 0.
static inline void qb_virt_require(const char *name) {
    if (qb_virt_load() != NULL) {
        fprintf(stderr, "qballoon: libvirt's %s called without libvirt loaded\n", name);
        abort();
    }
}
#define QB_VIRT_CALL(name) (qb_virt_require(#name), qb_virt_table()->name)

static inline int virInitialize(void) { return QB_VIRT_CALL(virInitialize)(); }
static inline virConnectPtr virConnectOpen(const char *name) { return QB_VIRT_CALL(virConnectOpen)(name); }
static inline int virConnectClose(virConnectPtr conn) { return QB_VIRT_CALL(virConnectClose)(conn); }
static inline int virConnectGetVersion(virConnectPtr conn, unsigned long *hvVer) { return QB_VIRT_CALL(virConnectGetVersion)(conn, hvVer); }
static inline int virConnectSetKeepAlive(virConnectPtr conn, int interval, unsigned int count) { return QB_VIRT_CALL(virConnectSetKeepAlive)(conn, interval, count); }
static inline int virConnectRegisterCloseCallback(virConnectPtr conn, virConnectCloseFunc cb, void *opaque, virFreeCallback freecb) { return QB_VIRT_CALL(virConnectRegisterCloseCallback)(conn, cb, opaque, freecb); }
static inline int virConnectUnregisterCloseCallback(virConnectPtr conn, virConnectCloseFunc cb) { return QB_VIRT_CALL(virConnectUnregisterCloseCallback)(conn, cb); }
static inline int virConnectIsAlive(virConnectPtr conn) { return QB_VIRT_CALL(virConnectIsAlive)(conn); }
static inline virDomainPtr virDomainLookupByName(virConnectPtr conn, const char *name) { return QB_VIRT_CALL(virDomainLookupByName)(conn, name); }
static inline int virDomainFree(virDomainPtr domain) { return QB_VIRT_CALL(virDomainFree)(domain); }
static inline const char *virDomainGetName(virDomainPtr domain) { return QB_VIRT_CALL(virDomainGetName)(domain); }
static inline unsigned long virDomainGetMaxMemory(virDomainPtr domain) { return QB_VIRT_CALL(virDomainGetMaxMemory)(domain); }
static inline int virDomainSetMemoryFlags(virDomainPtr domain, unsigned long memory, unsigned int flags) { return QB_VIRT_CALL(virDomainSetMemoryFlags)(domain, memory, flags); }
static inline int virDomainSetMemoryStatsPeriod(virDomainPtr domain, int period, unsigned int flags) { return QB_VIRT_CALL(virDomainSetMemoryStatsPeriod)(domain, period, flags); }
static inline char *virDomainGetMetadata(virDomainPtr domain, int type, const char *uri, unsigned int flags) { return QB_VIRT_CALL(virDomainGetMetadata)(domain, type, uri, flags); }
static inline char *virDomainGetXMLDesc(virDomainPtr domain, unsigned int flags) { return QB_VIRT_CALL(virDomainGetXMLDesc)(domain, flags); }
static inline int virDomainMemoryStats(virDomainPtr dom, virDomainMemoryStatPtr stats, unsigned int nr_stats, unsigned int flags) { return QB_VIRT_CALL(virDomainMemoryStats)(dom, stats, nr_stats, flags); }
static inline int virConnectListAllDomains(virConnectPtr conn, virDomainPtr **domains, unsigned int flags) { return QB_VIRT_CALL(virConnectListAllDomains)(conn, domains, flags); }
static inline int virConnectGetAllDomainStats(virConnectPtr conn, unsigned int stats, virDomainStatsRecordPtr **retStats, unsigned int flags) { return QB_VIRT_CALL(virConnectGetAllDomainStats)(conn, stats, retStats, flags); }
static inline void virDomainStatsRecordListFree(virDomainStatsRecordPtr *stats) { QB_VIRT_CALL(virDomainStatsRecordListFree)(stats); }
static inline int virDomainIsActive(virDomainPtr dom) { return QB_VIRT_CALL(virDomainIsActive)(dom); }
static inline int virConnectDomainEventRegisterAny(virConnectPtr conn, virDomainPtr dom, int eventID, virConnectDomainEventGenericCallback cb, void *opaque, virFreeCallback freecb) { return QB_VIRT_CALL(virConnectDomainEventRegisterAny)(conn, dom, eventID, cb, opaque, freecb); }
static inline int virConnectDomainEventDeregisterAny(virConnectPtr conn, int callbackID) { return QB_VIRT_CALL(virConnectDomainEventDeregisterAny)(conn, callbackID); }
static inline int virEventRegisterDefaultImpl(void) { return QB_VIRT_CALL(virEventRegisterDefaultImpl)(); }
static inline int virEventRunDefaultImpl(void) { return QB_VIRT_CALL(virEventRunDefaultImpl)(); }
static inline virErrorPtr virGetLastError(void) { return QB_VIRT_CALL(virGetLastError)(); }
static inline void virResetLastError(void) { QB_VIRT_CALL(virResetLastError)(); }
static inline int virGetLastErrorCode(void) { return QB_VIRT_CALL(virGetLastErrorCode)(); }
static inline void virSetErrorFunc(void *userData, virErrorFunc handler) { QB_VIRT_CALL(virSetErrorFunc)(userData, handler); }

// libvirt prints every error to stderr unless a handler is set; the callers report errors themselves.
static void qb_virt_ignore_error(void *userdata, virErrorPtr error) { (void)userdata; (void)error; }
static inline void qb_virt_silence_errors(void) { virSetErrorFunc(NULL, qb_virt_ignore_error); }

// A typed parameter's name and, for an unsigned long long, its value (Swift sees the name as a tuple otherwise).
static inline const char *qb_virt_param_field(const virTypedParameter *params, int index) { return params[index].field; }
static inline int qb_virt_param_ullong(const virTypedParameter *params, int index, unsigned long long *value) {
    if (params[index].type != VIR_TYPED_PARAM_ULLONG) return 0;
    *value = params[index].value.ul;
    return 1;
}

// Events, handed to one function of the caller's: what happened (QB_VIRT_*), the domain's name (NULL for the
// connection), libvirt's event number, and a value (the balloon's actual in KiB).
enum { QB_VIRT_LIFECYCLE = 0, QB_VIRT_BALLOON = 1, QB_VIRT_CLOSED = 2 };
typedef void (*qb_virt_event_sink)(void *context, int kind, const char *domain, int event, unsigned long long value);
typedef void (*qb_virt_release)(void *context);

// Shared by the three callbacks of one connection; freed, and the caller's context released, once libvirt has
// let go of all three.
struct qb_virt_events {
    qb_virt_event_sink sink;
    qb_virt_release release;
    void *context;
    int refs;
    int lifecycle;
    int balloon;
};

static void qb_virt_events_unref(void *opaque) {
    struct qb_virt_events *events = opaque;
    if (__atomic_sub_fetch(&events->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        events->release(events->context);
        free(events);
    }
}

static int qb_virt_on_lifecycle(virConnectPtr conn, virDomainPtr domain, int event, int detail, void *opaque) {
    (void)conn; (void)detail;
    struct qb_virt_events *events = opaque;
    events->sink(events->context, QB_VIRT_LIFECYCLE, virDomainGetName(domain), event, 0);
    return 0;
}

static void qb_virt_on_balloon(virConnectPtr conn, virDomainPtr domain, unsigned long long actual, void *opaque) {
    (void)conn;
    struct qb_virt_events *events = opaque;
    events->sink(events->context, QB_VIRT_BALLOON, virDomainGetName(domain), 0, actual);
}

static void qb_virt_on_close(virConnectPtr conn, int reason, void *opaque) {
    (void)conn;
    struct qb_virt_events *events = opaque;
    events->sink(events->context, QB_VIRT_CLOSED, NULL, reason, 0);
}

// Registers lifecycle, balloon-change and close callbacks on `conn`; NULL when libvirt refused (the context is
// released then).
static inline struct qb_virt_events *qb_virt_register_events(
    virConnectPtr conn, qb_virt_event_sink sink, qb_virt_release release, void *context) {
    struct qb_virt_events *events = calloc(1, sizeof *events);
    if (!events) { release(context); return NULL; }
    events->sink = sink;
    events->release = release;
    events->context = context;
    events->refs = 4;  // three callbacks and the caller, until qb_virt_deregister_events
    events->lifecycle = virConnectDomainEventRegisterAny(
        conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(qb_virt_on_lifecycle), events,
        qb_virt_events_unref);
    if (events->lifecycle < 0) __atomic_sub_fetch(&events->refs, 1, __ATOMIC_ACQ_REL);
    events->balloon = virConnectDomainEventRegisterAny(
        conn, NULL, VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, VIR_DOMAIN_EVENT_CALLBACK(qb_virt_on_balloon), events,
        qb_virt_events_unref);
    if (events->balloon < 0) __atomic_sub_fetch(&events->refs, 1, __ATOMIC_ACQ_REL);
    if (virConnectRegisterCloseCallback(conn, qb_virt_on_close, events, qb_virt_events_unref) < 0)
        __atomic_sub_fetch(&events->refs, 1, __ATOMIC_ACQ_REL);
    if (events->lifecycle < 0 || events->balloon < 0) {
        if (events->lifecycle >= 0) virConnectDomainEventDeregisterAny(conn, events->lifecycle);
        if (events->balloon >= 0) virConnectDomainEventDeregisterAny(conn, events->balloon);
        virConnectUnregisterCloseCallback(conn, qb_virt_on_close);
        qb_virt_events_unref(events);
        return NULL;
    }
    return events;
}

// Removes the callbacks before the connection closes; the shared state goes when libvirt is done with it.
static inline void qb_virt_deregister_events(virConnectPtr conn, struct qb_virt_events *events) {
    virConnectDomainEventDeregisterAny(conn, events->lifecycle);
    virConnectDomainEventDeregisterAny(conn, events->balloon);
    virConnectUnregisterCloseCallback(conn, qb_virt_on_close);
    qb_virt_events_unref(events);
}

#endif
