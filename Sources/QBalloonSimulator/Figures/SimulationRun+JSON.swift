import QBalloonJSON

extension SimulationRun {
    /// The run as `qballoon simulate --json` prints it: the config, the host, the summary figures, and per VM its
    /// figures and its short and out-of-memory episodes (no timelines: the report draws those). Sizes in bytes,
    /// times in seconds (episodes from the run's start).
    ///
    /// ```json
    /// {"config": "Configs/conservative.toml", "seconds": 600, "host": {"total": 8589934592, ...},
    ///  "figures": {"returned_mean": 1610612736, "out_of_memory_events": 0, ...}, "vms": [...]}
    /// ```
    public var json: JSON {
        func optional(_ value: Double?) -> JSON { value.map(JSON.double) ?? .null }
        func episodes(_ list: [Episode]) -> JSON {
            .array(list.map { ["start": .double($0.start - start), "end": .double($0.end - start), "worst": .unsigned($0.worst)] })
        }
        let vms: [JSON] = vms.map { vm in
            [
                "name": .string(vm.name), "ram": .unsigned(vm.ram), "max": .unsigned(vm.max), "min": .unsigned(vm.min),
                "returned_mean": .double(vm.figures.returnedMean.rounded()), "returned_least": .unsigned(vm.figures.returnedLeast),
                "short_seconds": .double(vm.figures.shortSeconds), "out_of_memory_events": .int(Int64(vm.figures.outOfMemoryEvents)),
                "out_of_memory_seconds": .double(vm.figures.outOfMemorySeconds), "changes": .int(Int64(vm.figures.changes)),
                "short": episodes(vm.short), "out_of_memory": episodes(vm.outOfMemory),
            ]
        }
        return [
            "config": .string(config), "start": .double(start), "seconds": .double(end - start),
            "host": ["total": .unsigned(hostTotal), "own_use": .unsigned(hostUse), "reserve": .unsigned(reserve)],
            "figures": [
                "returned_mean": .double(figures.returnedMean.rounded()), "returned_least": .unsigned(figures.returnedLeast),
                "short_seconds": .double(figures.shortSeconds), "out_of_memory_events": .int(Int64(figures.outOfMemoryEvents)),
                "out_of_memory_seconds": .double(figures.outOfMemorySeconds), "changes_per_vm_hour": .double(figures.changesPerVMHour),
                "memory_back_p50": optional(figures.memoryBackP50), "memory_back_p99": optional(figures.memoryBackP99),
                "short_without_memory_back": .int(Int64(figures.shortWithoutMemoryBack)), "vm_hours": .double(figures.vmHours),
                "host_overcommitted_seconds": .double(figures.hostOvercommittedSeconds),
            ],
            "vms": .array(vms),
            "warnings": .array(warnings.map(JSON.string)),
        ]
    }

}

extension SimulatedDecision {
    /// One line of `qballoon simulate --decisions`: `{"time", "vm", "from", "to", "reason", "rule", "text"}` (`time`
    /// in seconds from the run's start).
    public func json(start: Double) -> JSON {
        [
            "time": .double(((time - start) * 1000).rounded() / 1000), "vm": .string(vm), "from": .unsigned(from),
            "to": .unsigned(to), "reason": .string(reason), "rule": rule.map(JSON.string) ?? .null, "text": .string(text),
        ]
    }
}
