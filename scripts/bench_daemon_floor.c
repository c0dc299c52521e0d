// The floor of scripts/bench-daemon.sh: the least a client can do to poll every VM's guest statistics, in C,
// with nothing in the way. One thread, one epoll set; per VM and poll one write (`qom-get guest-stats`, made
// beforehand), one read, one jansson decode of the reply and the figures copied out. No decisions, no timeouts,
// no limits on what a monitor sends: not a client anyone should run, only what the socket and jansson cost, so
// BENCHMARKS.md can say what the daemon adds on top (issue 14).
//
// Standard output, as bench_daemon_python.py's, one line each, flushed:
//   attached N SECONDS          once every VM is connected and its balloon found
//   round START DURATION ERRORS for each round: its Unix start time, how long it took, replies missing or bad
// Usage: bench_daemon_floor INTERVAL_SECONDS 'DIR/*.qmp'   Stops on SIGTERM/SIGINT.
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { BUFFER = 64 << 10, STATS = 16 };

struct vm {
    int fd;
    char *command;       // qom-get guest-stats on this VM's balloon, with its newline
    size_t command_len;
    char buffer[BUFFER];
    size_t used;
    int answered;
    long long stats[STATS];
    long long last_update;
};

static volatile sig_atomic_t stopping;
static void stop(int signal) { (void)signal; stopping = 1; }

static double now(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "%s: %s: %s\n", path, what, strerror(errno));
    exit(1);
}

// One blocking exchange while attaching: sends `text`, returns the next message that is not an event.
static json_t *exchange(struct vm *vm, const char *text, const char *path) {
    if (text && write(vm->fd, text, strlen(text)) != (ssize_t)strlen(text)) die("write", path);
    for (;;) {
        char *end = memchr(vm->buffer, '\n', vm->used);
        if (end) {
            size_t length = (size_t)(end - vm->buffer) + 1;
            json_error_t error;
            json_t *message = json_loadb(vm->buffer, length, JSON_DISABLE_EOF_CHECK, &error);
            memmove(vm->buffer, vm->buffer + length, vm->used - length);
            vm->used -= length;
            if (!message) { fprintf(stderr, "%s: %s\n", path, error.text); exit(1); }
            if (json_object_get(message, "event")) { json_decref(message); continue; }
            return message;
        }
        ssize_t n = read(vm->fd, vm->buffer + vm->used, BUFFER - vm->used);
        if (n <= 0) die("read", path);
        vm->used += (size_t)n;
    }
}

static void attach(struct vm *vm, const char *path, int stats_interval) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    vm->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (vm->fd < 0 || connect(vm->fd, (struct sockaddr *)&address, sizeof address) < 0) die("connect", path);
    json_decref(exchange(vm, NULL, path));  // the greeting
    json_decref(exchange(vm, "{\"execute\":\"qmp_capabilities\"}\n", path));
    char *balloon = NULL;
    const char *containers[] = {"/machine/peripheral", "/machine/peripheral-anon"};
    for (int c = 0; c < 2 && !balloon; c++) {
        char request[256];
        snprintf(request, sizeof request, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"%s\"}}\n", containers[c]);
        json_t *reply = exchange(vm, request, path);
        size_t index;
        json_t *entry;
        json_array_foreach(json_object_get(reply, "return"), index, entry) {
            const char *type = json_string_value(json_object_get(entry, "type"));
            if (type && strncmp(type, "child<virtio-balloon", 20) == 0) {
                const char *name = json_string_value(json_object_get(entry, "name"));
                if (asprintf(&balloon, "%s/%s", containers[c], name) < 0) die("asprintf", path);
                break;
            }
        }
        json_decref(reply);
    }
    if (!balloon) { fprintf(stderr, "%s: no balloon device\n", path); exit(1); }
    char request[512];
    snprintf(request, sizeof request,
             "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"%s\",\"property\":\"guest-stats-polling-interval\",\"value\":%d}}\n",
             balloon, stats_interval);
    json_decref(exchange(vm, request, path));
    vm->command_len = (size_t)asprintf(&vm->command,
                                       "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"%s\",\"property\":\"guest-stats\"}}\n", balloon);
    free(balloon);
}

// Every whole message in the VM's buffer: a reply's figures are copied out; events are skipped.
static void take_messages(struct vm *vm, int *answered) {
    size_t start = 0;
    char *end;
    while ((end = memchr(vm->buffer + start, '\n', vm->used - start))) {
        size_t length = (size_t)(end - vm->buffer) + 1 - start;
        json_t *message = json_loadb(vm->buffer + start, length, JSON_DISABLE_EOF_CHECK, NULL);
        start += length;
        json_t *value = message ? json_object_get(message, "return") : NULL;
        json_t *stats = json_object_get(value, "stats");
        if (stats && !vm->answered) {
            const char *name;
            json_t *figure;
            int index = 0;
            json_object_foreach(stats, name, figure) {
                if (index < STATS) vm->stats[index++] = json_integer_value(figure);
            }
            vm->last_update = json_integer_value(json_object_get(value, "last-update"));
            vm->answered = 1;
            (*answered)++;
        }
        json_decref(message);
    }
    memmove(vm->buffer, vm->buffer + start, vm->used - start);
    vm->used -= start;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s INTERVAL_SECONDS 'DIR/*.qmp'\n", argv[0]); return 2; }
    double interval = atof(argv[1]);
    glob_t sockets;
    if (glob(argv[2], 0, NULL, &sockets) != 0 || sockets.gl_pathc == 0) { fprintf(stderr, "no socket matches %s\n", argv[2]); return 1; }
    int count = (int)sockets.gl_pathc;
    char **paths = sockets.gl_pathv;
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    struct vm *vms = calloc((size_t)count, sizeof *vms);
    if (!vms) die("calloc", "vms");
    double started = now(CLOCK_MONOTONIC);
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < count; i++) {
        attach(&vms[i], paths[i], interval < 1 ? 1 : (int)(interval + 0.5));
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = &vms[i]};
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, vms[i].fd, &event) < 0) die("epoll_ctl", paths[i]);
    }
    printf("attached %d %.3f\n", count, now(CLOCK_MONOTONIC) - started);
    fflush(stdout);

    struct epoll_event *ready = calloc((size_t)count, sizeof *ready);
    double next = now(CLOCK_MONOTONIC);
    while (!stopping) {
        double wall = now(CLOCK_REALTIME), start = now(CLOCK_MONOTONIC);
        int answered = 0;
        for (int i = 0; i < count; i++) {
            vms[i].answered = 0;
            if (write(vms[i].fd, vms[i].command, vms[i].command_len) != (ssize_t)vms[i].command_len) die("write", paths[i]);
        }
        // Read until every VM answered or the round's time is up.
        while (answered < count && !stopping) {
            int wait_ms = (int)((start + interval - now(CLOCK_MONOTONIC)) * 1000);
            if (wait_ms <= 0) break;
            int n = epoll_wait(epoll, ready, count, wait_ms);
            for (int r = 0; r < n; r++) {
                struct vm *vm = ready[r].data.ptr;
                ssize_t got = read(vm->fd, vm->buffer + vm->used, BUFFER - vm->used);
                if (got <= 0) die("read", "a monitor");
                vm->used += (size_t)got;
                take_messages(vm, &answered);
                if (vm->used == BUFFER) vm->used = 0;  // a message over 64 KiB: dropped (QEMU sends none)
            }
        }
        printf("round %.3f %.4f %d\n", wall, now(CLOCK_MONOTONIC) - start, count - answered);
        fflush(stdout);
        next += interval;
        double delay = next - now(CLOCK_MONOTONIC);
        if (delay <= 0) { next = now(CLOCK_MONOTONIC); continue; }
        struct timespec pause = {(time_t)delay, (long)((delay - (time_t)delay) * 1e9)};
        while (nanosleep(&pause, &pause) < 0 && errno == EINTR && !stopping) {}
    }
    return 0;
}
