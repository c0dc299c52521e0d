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
