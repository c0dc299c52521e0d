import CoreMetrics
import Prometheus
import QBalloonCore
import QBalloonRules
import Synchronization

/// The daemon's metrics, through swift-metrics into a Prometheus registry that ``MetricsServer`` serves.
///
/// Per VM (label `vm`): `qballoon_vm_actual_bytes`, `qballoon_vm_target_bytes`, `qballoon_vm_max_bytes`,
/// `qballoon_vm_available_bytes`, `qballoon_vm_stats_age_seconds`, `qballoon_vm_pressure` (0/1),
/// `qballoon_vm_healthy` (0/1), `qballoon_vm_quarantined` (0/1), `qballoon_vm_pinned` (0/1), `qballoon_vm_paused` (0/1),
/// `qballoon_vm_changes_total`, `qballoon_qmp_errors_total`, `qballoon_qmp_reconnects_total`. The operator's acts
/// through the control socket: `qballoon_operator_acts_total` (label `act`). Host: `qballoon_host_available_bytes`, `qballoon_host_total_bytes`,
/// `qballoon_host_reserve_bytes` (the reserve in bytes, as the last round resolved it),
/// `qballoon_host_memory_psi_some_avg10`, `qballoon_host_memory_psi_full_avg10`.
///
/// A program that serves its own metrics hands the daemon a registry and reads the text from it:
///
/// ```swift
/// let metrics = DaemonMetrics()
/// let daemon = try Daemon(config: config, options: .init(configPath: path, logger: logger, metrics: metrics))
/// let text = metrics.exposition()      // Prometheus text format
/// ```
public final class DaemonMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let perVM: Mutex<[String: VMGauges]>
    private let host: HostGauges

    struct VMGauges {
        var actual, target, max, available, statsAge, pressure, healthy, quarantined, pinned, paused: CoreMetrics.Gauge
        var changes: CoreMetrics.Counter
        var errors, reconnects: CoreMetrics.Counter
        var lastErrors = 0
        var lastReconnects = 0
    }

    struct HostGauges: Sendable {
        let available, total, reserve, psiSome, psiFull: CoreMetrics.Gauge
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let factory = PrometheusMetricsFactory(registry: registry)
        self.factory = factory
        self.perVM = Mutex([:])
        self.host = HostGauges(
            available: CoreMetrics.Gauge(label: "qballoon_host_available_bytes", factory: factory),
            total: CoreMetrics.Gauge(label: "qballoon_host_total_bytes", factory: factory),
            reserve: CoreMetrics.Gauge(label: "qballoon_host_reserve_bytes", factory: factory),
            psiSome: CoreMetrics.Gauge(label: "qballoon_host_memory_psi_some_avg10", factory: factory),
            psiFull: CoreMetrics.Gauge(label: "qballoon_host_memory_psi_full_avg10", factory: factory))
    }

    private func gauges(_ vm: String, _ state: inout [String: VMGauges]) -> VMGauges {
        if let existing = state[vm] { return existing }
        let dimensions = [("vm", vm)]
        func gauge(_ name: String) -> CoreMetrics.Gauge { CoreMetrics.Gauge(label: name, dimensions: dimensions, factory: factory) }
        func counter(_ name: String) -> CoreMetrics.Counter { CoreMetrics.Counter(label: name, dimensions: dimensions, factory: factory) }
        let created = VMGauges(
            actual: gauge("qballoon_vm_actual_bytes"), target: gauge("qballoon_vm_target_bytes"),
            max: gauge("qballoon_vm_max_bytes"), available: gauge("qballoon_vm_available_bytes"),
            statsAge: gauge("qballoon_vm_stats_age_seconds"), pressure: gauge("qballoon_vm_pressure"),
            healthy: gauge("qballoon_vm_healthy"), quarantined: gauge("qballoon_vm_quarantined"),
            pinned: gauge("qballoon_vm_pinned"), paused: gauge("qballoon_vm_paused"), changes: counter("qballoon_vm_changes_total"),
            errors: counter("qballoon_qmp_errors_total"), reconnects: counter("qballoon_qmp_reconnects_total"))
        state[vm] = created
        return created
    }

    /// Records what the daemon saw of a VM and what the engine judged of it this round.
    /// - Parameters:
    ///   - status: the VM's state, from the same facts and verdict (`qballoon_vm_healthy` is 1 only when `.ok`).
    ///   - verdict: the engine's verdict, when it had a sample of the VM.
    ///   - changed: whether a balloon change was decided for it this round.
    ///   - pinned, paused: the operator's holds on it (control socket).
    package func record(
        _ facts: VMFacts, status: VMStatus, verdict: VMVerdict?, changed: Bool, pinned: Bool = false, paused: Bool = false,
        now: Double
    ) {
        perVM.withLock { state in
            var vm = gauges(facts.name, &state)
            if let actual = facts.actual { vm.actual.record(Double(actual)) }
            if let max = facts.ramBytes { vm.max.record(Double(max)) }
            if let target = facts.lastTarget { vm.target.record(Double(target)) }
            if let available = facts.stats?.available { vm.available.record(Double(available)) }
            if let age = verdict?.stats.age { vm.statsAge.record(age) }
            vm.healthy.record(status == .ok ? 1 : 0)
            if case .quarantined = status { vm.quarantined.record(1) } else { vm.quarantined.record(0) }
            if let verdict { vm.pressure.record(verdict.pressured ? 1 : 0) }
            vm.pinned.record(pinned ? 1 : 0)
            vm.paused.record(paused ? 1 : 0)
            if changed { vm.changes.increment() }
            if facts.errors > vm.lastErrors {
                vm.errors.increment(by: facts.errors - vm.lastErrors)
                vm.lastErrors = facts.errors
            }
            if facts.reconnects > vm.lastReconnects {
                vm.reconnects.increment(by: facts.reconnects - vm.lastReconnects)
                vm.lastReconnects = facts.reconnects
            }
            state[facts.name] = vm
        }
    }

    /// Records the host's memory.
    package func record(host sample: HostSample, reserve: UInt64? = nil) {
        if let available = sample.available { host.available.record(Double(available)) }
        if let reserve { host.reserve.record(Double(reserve)) }
        if let total = sample.total { host.total.record(Double(total)) }
        if let pressure = sample.pressure {
            host.psiSome.record(pressure.someAvg10)
            if let full = pressure.fullAvg10 { host.psiFull.record(full) }
        }
    }

    /// Counts an operator's act (pin, unpin, pause, resume, reload, expire).
    package func countOperatorAct(_ act: String) {
        CoreMetrics.Counter(label: "qballoon_operator_acts_total", dimensions: [("act", act)], factory: factory).increment()
    }

    /// Drops a VM's series when it is detached.
    package func forget(vm name: String) {
        perVM.withLock { state in
            guard let vm = state.removeValue(forKey: name) else { return }
            for gauge in [vm.actual, vm.target, vm.max, vm.available, vm.statsAge, vm.pressure, vm.healthy, vm.quarantined, vm.pinned, vm.paused] {
                gauge.destroy()
            }
            for counter in [vm.changes, vm.errors, vm.reconnects] { counter.destroy() }
        }
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
