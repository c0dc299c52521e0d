import QBalloonCore

extension DecisionEngine {
    /// Evaluates the VM's pressure condition and rules and applies the per-VM safety envelope.
    func plan(
        for sample: VMSample, index: Int, freshness: StatsFreshness, vm: inout VMState,
        frame: UnsafeMutableBufferPointer<Double>, now: Double, program: Program, verdict: inout VMVerdict
    ) -> Plan? {
        vm.lastSeen = now
        if vm.connection != sample.connection || !sample.reachable {
            // The figures' continuity is broken: `for` conditions and rates start over, and a VM that comes back
            // may be a new QEMU whose balloon is not heading to our target.
            if vm.connection != nil || !sample.reachable { forgetHistory(&vm) }
            vm.connection = sample.connection
        }
        guard sample.reachable else {
            verdict.decided = false
            return nil
        }
        // A guest that never reported is held: nothing is known of what it uses.
        guard freshness != .neverReported else {
            verdict.decided = false
            return nil
        }
        let limits = sample.limits
        let actual = sample.actual
        var progressStatus: BalloonProgress.Status?
        if var progress = vm.progress {
            progressStatus = progress.observe(actual: actual, at: now)
            vm.progress = progress
        }
        let pendingInflation = vm.progress?.isInflating(actual: actual) ?? false
        let pendingDeflation = vm.progress?.isDeflating(actual: actual) ?? false
        let stalled = pendingInflation && progressStatus == .stalled
        verdict.inflationStalled = stalled
        let age = freshness.age
        let fresh = freshness.isFresh
        if let stats = sample.stats, let age {
            updateCounters(&vm.counters, stats: stats, reportTime: now - age)
            vm.trend.add(
                time: now - age, used: stats.used.map { Double($0) } ?? .nan,
                available: stats.available.map { Double($0) } ?? .nan, window: limits.trendWindow,
                peakWindow: limits.peakWindow)
        }

        let f = frame.baseAddress!
        fillGuest(frame, sample: sample, vm: vm, age: age)

        let pressureIndex = limits.pressure < program.pressureConditions.count ? limits.pressure : 0
        updateHeld(program.pressureHeld[pressureIndex], vm: &vm, frame: frame, now: now)
        let pressureValue = program.pressureConditions[pressureIndex](f)
        frame[Variable.pressure.rawValue] = pressureValue
        let pressured = pressureValue == 1
        verdict.pressured = pressured

        for rule in program.ruleHeld.indices where vm.applies[rule] {
            updateHeld(program.ruleHeld[rule], vm: &vm, frame: frame, now: now)
        }
        var fired: Int?
        var desired = 0.0
        for rule in program.whens.indices where vm.applies[rule] && program.whens[rule](f) == 1 {
            let value = program.sets[rule](f)
            if value.isFinite {
                fired = rule
                desired = value
                break
            }
        }

        // The need: what the guest uses, the room it keeps above that, and how fast it moves. What it uses counts
        // against `actual` with the memory its kernel keeps outside MemTotal (its image, the page descriptors of all
        // its RAM: about 6% of a 1 GiB Linux guest), measured as actual − total from a report made while the
        // balloon stood still; until one has been, the latest report's figure serves for growth and nothing shrinks.
        let used = frame[Variable.used.rawValue]
        if vm.observedActual != actual {
            vm.observedActual = actual
            vm.observedActualSince = now
        }
        // Standing still: no target of ours still on its way (the `actual` we hold can lag the guest's report by
        // a second of QEMU's event throttling, so a report made while it moves may pair an old `actual` with a new
        // total), and the report made after `actual` was last seen to change.
        let balloonMoving = (pendingInflation && !stalled) || pendingDeflation
        let reportedTotal = sample.stats?.total
        if !balloonMoving, let total = reportedTotal, let age, now - age >= vm.observedActualSince {
            vm.outsideTotal = actual > total ? actual - total : 0
        }
        let outside = vm.outsideTotal ?? reportedTotal.map { actual > $0 ? actual - $0 : 0 } ?? 0
        let outsideKnown = vm.outsideTotal != nil
        let rising = vm.trend.isRising(faster: limits.needRising)
        // The room to keep: the configured headroom, and the growth the guest may have for as long as the daemon
        // takes to react: the allowance, its fastest growth lately, and while it rises, its growth now.
        var growthRate = Swift.max(limits.growthAllowance, vm.trend.peakGrowth(at: now))
        if rising == true, !vm.trend.lastUsedRate.isNaN { growthRate = Swift.max(growthRate, vm.trend.lastUsedRate) }
        // While it rises, twice that: each round adds only the growth its last report showed, so between the
        // report and the balloon's arrival the guest eats into the room at its full rate; with one reaction time
        // of room the margin at the worst moment would be nothing at all (a real guest writing at 40 MiB/s after
        // falling behind met its OOM killer there).
        let span = rising == true ? 2 * reactionTime : reactionTime
        let headroom = Self.pageUp(Swift.max(Double(limits.headroom), growthRate * span))
        let needFloor: UInt64? =
            used.isNaN ? nil : Swift.min(limits.max, Self.pageUp(Swift.max(0, used) + Double(outside)) &+ headroom)
        // No shrink goes below the most it used lately plus the same headroom: memory a guest freed a minute ago
        // is memory its next job may take again at once, faster than any daemon can give it back.
        let peak = vm.trend.peakUsed
        let shrinkFloor: UInt64? = needFloor.map { floor in
            guard !peak.isNaN, peak > used else { return floor }
            return Swift.max(floor, Swift.min(limits.max, Self.pageUp(peak + Double(outside)) &+ headroom))
        }
        let shrinkWatched = vm.lastShrinkFrom != nil && now - vm.lastShrinkAt < limits.shrinkWatch
        if pressured { vm.lastPressureAt = now }
        let sincePressure = now - vm.lastPressureAt

        var plan = Plan(
            index: index, actual: actual, limits: limits, target: actual, low: actual, high: actual,
            pressured: pressured, used: used)
        plan.needFloor = needFloor
        plan.shrinkFloor = shrinkFloor
        if pendingInflation, let target = vm.progress?.target, !stalled {
            plan.pendingReclaim = actual - target
            plan.movingTo = target
        }
        if pendingDeflation, let target = vm.progress?.target {
            plan.pendingGrowth = target - actual
            plan.movingTo = target
        }

        // Paused: nothing is sent, but what the rules would do is worked out to be shown. An inflation of ours still
        // under way is stopped where it is (once): a paused guest holds still.
        if sample.hold == .paused {
            plan.canFeed = false
            plan.canGiveToHost = false
            if pendingInflation, !stalled {
                plan.reason = .paused
                plan.wanted = actual
                plan.safety = true
                plan.figures = [Figure(variable: .actual, value: Double(actual))]
                if let moving = plan.movingTo { plan.figures.append(Figure(variable: .target, value: Double(moving))) }
                plan.pendingReclaim = 0
                plan.movingTo = nil
                return plan
            }
            if let fired, !stalled {
                plan.reason = .rule(program.ruleNames[fired])
                plan.wanted = desired <= 0 ? 0 : UInt64(Swift.min(desired, 1.8e19))
                plan.figures = figures(program.ruleFigures[fired], frame)
            } else {
                plan.reason = .paused
            }
            plan.adjustments.append(.paused)
            return plan
        }

        // Safety first: a stalled inflation gets room back at once; an inflation into a guest that came under
        // pressure (or went silent) stops where it is, and a guest under pressure gets its max at once.
        if stalled {
            let target = StallRecovery.target(stoppedAt: actual, ramBytes: sample.ram, giveBack: limits.giveBack)
            plan.wanted = target
            plan.target = target
            plan.low = target
            plan.high = target
            plan.reason = .stallRecovery
            plan.safety = true
            plan.figures = [Figure(variable: .actual, value: Double(actual))]
            if let last = vm.progress?.target { plan.figures.append(Figure(variable: .target, value: Double(last))) }
            return plan
        }
        if pendingInflation, pressured || !fresh {
            var target = actual
            if pressured, limits.growOnPressure {
                target = Swift.max(actual, limits.max)
                plan.urgent = true
            }
            plan.wanted = target
            plan.target = target
            plan.low = target
            plan.high = target
            plan.reason = .inflationAborted
            plan.safety = true
            plan.adjustments.append(pressured ? .shrinkBlockedPressure : .shrinkBlockedStaleStats(age: age))
            plan.figures = figures(program.pressureFigures[pressureIndex], frame)
            return plan
        }

        var wanted: UInt64?
        if let fired {
            wanted = desired <= 0 ? 0 : UInt64(Swift.min(desired, 1.8e19))
            plan.reason = .rule(program.ruleNames[fired])
            plan.figures = figures(program.ruleFigures[fired], frame)
        }
        // Growth is never held back: a guest under pressure gets its max at once; one with less room above its
        // use than its headroom (or whose use is rising into it) gets that room at once.
        var urgent = false
        if pressured, limits.growOnPressure {
            let growth = Swift.max(actual, limits.max)
            if (wanted ?? 0) < growth {
                if let asked = wanted, asked < actual, case .rule(let name) = plan.reason {
                    plan.adjustments.append(.ruleOverriddenByPressure(rule: name))
                }
                wanted = growth
                plan.reason = shrinkWatched ? .shrinkUndone : .pressure
                plan.figures = figures(program.pressureFigures[pressureIndex], frame)
            }
            urgent = true
        } else if pressured {
            urgent = (wanted ?? 0) > actual
        } else if limits.growOnPressure, fresh, let needFloor, needFloor > actual,
            rising == true || needFloor - actual >= limits.deadband
        {
            if (wanted ?? 0) < needFloor {
                if let asked = wanted, asked < actual, case .rule(let name) = plan.reason {
                    plan.adjustments.append(.ruleOverriddenByNeed(rule: name))
                }
                wanted = needFloor
                plan.reason = .headroom
                plan.figures = figures([.used, .usedRate, .available, .actual], frame)
            }
            urgent = true
        }
        if wanted == nil, actual < limits.min || actual > limits.max {
            wanted = actual < limits.min ? limits.min : limits.max
            plan.reason = .limits
            plan.figures = figures([.actual, .min, .max], frame)
        }
        plan.wanted = wanted
        plan.urgent = urgent && (wanted ?? 0) > actual

        // The envelope's bounds, for the rule's target and for the arbiter.
        let step = limits.step
        let growStep = limits.growStep
        var low = Swift.max(limits.min, actual > step ? actual - step : 0)
        var high = plan.urgent ? Swift.max(actual, limits.max) : Swift.min(limits.max, actual &+ growStep)
        if low > high {
            if actual < limits.min { low = high } else { high = low }
        }
        var shrinkBlock: Adjustment?
        if !fresh {
            shrinkBlock = .shrinkBlockedStaleStats(age: age)
        } else if pressured {
            shrinkBlock = .shrinkBlockedPressure
        } else if needFloor == nil {
            shrinkBlock = .shrinkBlockedUnknownUse
        } else if !outsideKnown {
            shrinkBlock = .shrinkBlockedBalloonMoved
        } else if rising != false {
            shrinkBlock = .shrinkBlockedRising(rate: rising == nil ? nil : Swift.max(vm.trend.usedRate, vm.trend.lastUsedRate))
        } else if sincePressure < limits.pressureHold {
            shrinkBlock = .shrinkBlockedAfterPressure(remaining: limits.pressureHold - sincePressure)
        }
        if shrinkBlock != nil {
            low = Swift.max(low, actual)
            high = Swift.max(high, low)
        } else if let shrinkFloor {
            // No shrink leaves less than the guest's use (or its peak lately) plus its headroom.
            low = Swift.max(low, Swift.min(shrinkFloor, actual))
            high = Swift.max(high, low)
        }
        if let moving = plan.movingTo, pendingInflation {
            low = Swift.max(low, moving)
            high = Swift.max(high, low)
        }
        var floor: UInt64?
        if let stallFloor = vm.stallFloor {
            if now < vm.stallFloorUntil {
                // Below the floor the balloon is still giving the room back: hold (the target stays).
                floor = Swift.min(stallFloor, actual)
                low = Swift.max(low, floor!)
                high = Swift.max(high, low)
            } else {
                vm.stallFloor = nil
            }
        }
        // How low the arbiter may take the guest to feed one that needs memory: these floors without step or cooldown.
        var feedLow = limits.min
        if shrinkBlock != nil {
            feedLow = Swift.max(feedLow, actual)
        } else if let shrinkFloor {
            feedLow = Swift.max(feedLow, Swift.min(shrinkFloor, actual))
        }
        if let moving = plan.movingTo, pendingInflation { feedLow = Swift.max(feedLow, moving) }
        if let floor { feedLow = Swift.max(feedLow, floor) }
        plan.feedLow = feedLow
        let sinceChange = now - vm.lastChangeAt
        let coolingDown = sinceChange < limits.cooldown
        if coolingDown {
            // Cooldown holds shrinks and rule-driven growth, never a guest that needs memory.
            low = actual
            if !plan.urgent { high = actual }
        }
        plan.low = low
        plan.high = high
        plan.canFeed =
            fresh && !pressured && rising == false && sincePressure >= limits.pressureHold && !pendingInflation
            && needFloor != nil && outsideKnown && (wanted ?? 0) <= actual
        plan.canGiveToHost = plan.canFeed && !coolingDown

        if case .pinned(let pin)? = sample.hold {
            let pinTarget = Swift.min(pin, limits.max)
            if plan.urgent, let need = wanted, need > pinTarget {
                // It needs more than its pin: the envelope's growth goes ahead as for any guest.
                plan.adjustments.append(.pinSetAsideForNeed(pin))
            } else {
                plan.reason = .pinned
                plan.wanted = pin
                plan.urgent = false
                plan.canFeed = false
                plan.canGiveToHost = false
                plan.adjustments = []
                plan.figures = figures([.actual, .used, .available, .max], frame)
                var target = pinTarget
                if pin > limits.max { plan.adjustments.append(.clampedToMax(limits.max)) }
                keepShrinkSafe(
                    &target, plan: &plan, block: shrinkBlock, floor: shrinkFloor, frame: frame, program: program,
                    pressureIndex: pressureIndex)
                if let floor, target < floor {
                    target = floor
                    plan.adjustments.append(.stallFloor(vm.stallFloor ?? floor))
                }
                plan.pinned = true
                plan.target = target
                plan.low = target
                plan.high = target
                plan.pendingReclaim = 0
                plan.pendingGrowth = 0
                return plan
            }
        }

        // The rule's target through the envelope, recording each change.
        guard var target = wanted else { return plan }
        if target < limits.min {
            target = limits.min
            plan.adjustments.append(.clampedToMin(limits.min))
        } else if target > limits.max {
            // A guest that needs memory is not shrunk to a max below where it is.
            target = plan.urgent ? Swift.max(limits.max, Swift.min(target, actual)) : limits.max
            plan.adjustments.append(.clampedToMax(limits.max))
        }
        if target < actual, actual - target > step {
            target = actual - step
            plan.adjustments.append(.limitedByStep(step))
        } else if target > actual, !plan.urgent, target - actual > growStep {
            target = actual + growStep
            plan.adjustments.append(.limitedByStep(growStep))
        }
        keepShrinkSafe(
            &target, plan: &plan, block: shrinkBlock, floor: shrinkFloor, frame: frame, program: program,
            pressureIndex: pressureIndex)
        if let moving = plan.movingTo, pendingInflation, target < moving {
            target = moving
            plan.adjustments.append(.waitingForInflation(target: moving))
        }
        if let moving = plan.movingTo, pendingDeflation, target > actual, target <= moving {
            // The guest is already being given this much: let that growth land rather than send less.
            target = actual
        }
        if let floor, target < floor {
            target = floor
            plan.adjustments.append(.stallFloor(vm.stallFloor ?? floor))
        }
        if coolingDown, !(plan.urgent && target > actual) {
            if target != actual { plan.adjustments.append(.cooldown(remaining: limits.cooldown - sinceChange)) }
            target = actual
        }
        plan.target = Swift.min(Swift.max(target, low), high)
        return plan
    }

    /// The guest's own safety for a `target` below where it is, for a rule's target and a pin alike: no shrink at all
    /// while something blocks it (stale statistics, pressure, a rising need...), none below its use (or recent peak)
    /// plus headroom, none into its pressure condition. Each limit that changed the target is recorded.
    private func keepShrinkSafe(
        _ target: inout UInt64, plan: inout Plan, block: Adjustment?, floor: UInt64?,
        frame: UnsafeMutableBufferPointer<Double>, program: Program, pressureIndex: Int
    ) {
        let actual = plan.actual
        if target < actual, let block {
            target = actual
            plan.adjustments.append(block)
        }
        if target < actual, let floor, target < floor {
            target = Swift.min(floor, actual)
            if let needFloor = plan.needFloor, floor > needFloor {
                plan.adjustments.append(.keptPeak(floor, window: plan.limits.peakWindow))
            } else {
                plan.adjustments.append(.keptHeadroom(floor))
            }
        }
        if target < actual {
            let safe = lowestTargetOutOfPressure(
                from: actual, toward: target, frame: frame, program: program, pressureIndex: pressureIndex)
            if safe > target {
                target = safe
                plan.adjustments.append(.keptOutOfPressure(safe))
            }
        }
    }

    /// The lowest target between `target` and `actual` at which the VM's pressure condition would not hold, were
    /// the guest shrunk there: its total, available and free memory less the difference. `COND for DURATION`
    /// parts count as soon as COND holds. Tries the whole shrink, then three quarters, half and a quarter of it.
    private func lowestTargetOutOfPressure(
        from actual: UInt64, toward target: UInt64, frame: UnsafeMutableBufferPointer<Double>, program: Program,
        pressureIndex: Int
    ) -> UInt64 {
        let held = program.pressureHeld[pressureIndex]
        let saved = (
            frame[Variable.actual.rawValue], frame[Variable.available.rawValue], frame[Variable.free.rawValue],
            frame[Variable.total.rawValue]
        )
        let savedHeld = held.map { frame[$0.slot] }
        defer {
            frame[Variable.actual.rawValue] = saved.0
            frame[Variable.available.rawValue] = saved.1
            frame[Variable.free.rawValue] = saved.2
            frame[Variable.total.rawValue] = saved.3
            for (index, condition) in held.enumerated() { frame[condition.slot] = savedHeld[index] }
        }
        let shrink = Double(actual - target)
        for fraction in [1.0, 0.75, 0.5, 0.25] {
            let delta = (shrink * fraction).rounded(.down)
            frame[Variable.actual.rawValue] = saved.0 - delta
            frame[Variable.available.rawValue] = saved.1.isNaN ? .nan : Swift.max(0, saved.1 - delta)
            frame[Variable.free.rawValue] = saved.2.isNaN ? .nan : Swift.max(0, saved.2 - delta)
            frame[Variable.total.rawValue] = saved.3.isNaN ? .nan : Swift.max(0, saved.3 - delta)
            for condition in held { frame[condition.slot] = condition.condition(UnsafePointer(frame.baseAddress!)) }
            if program.pressureConditions[pressureIndex](frame.baseAddress!) != 1 {
                return Self.pageUp(Double(actual) - delta)
            }
        }
        return actual
    }

    /// `bytes` rounded up to a whole page, as a byte count.
    static func pageUp(_ bytes: Double) -> UInt64 {
        BalloonPages.roundUp(UInt64(Swift.min(Swift.max(bytes, 0), 1.8e19)))
    }

    /// Forgets what continuity with the previous sample gave: held conditions, rates, the target in flight.
    private func forgetHistory(_ vm: inout VMState) {
        for slot in vm.heldSince.indices { vm.heldSince[slot] = .nan }
        vm.counters = VMState.Counters()
        vm.observedActual = nil
        vm.outsideTotal = nil
        vm.trend = NeedTrend()
        vm.progress = nil
    }

    private func figures(_ variables: [Variable], _ frame: UnsafeMutableBufferPointer<Double>) -> [Figure] {
        variables.map { Figure(variable: $0, value: frame[$0.rawValue].isNaN ? nil : frame[$0.rawValue]) }
    }

    private func updateHeld(
        _ held: [HeldCondition], vm: inout VMState, frame: UnsafeMutableBufferPointer<Double>, now: Double
    ) {
        let base = Variable.allCases.count
        for condition in held {
            let value = condition.condition(UnsafePointer(frame.baseAddress!))
            let slot = condition.slot - base
            if value == 1 {
                if vm.heldSince[slot].isNaN { vm.heldSince[slot] = now }
                frame[condition.slot] = now - vm.heldSince[slot] >= condition.seconds ? 1 : 0
            } else {
                vm.heldSince[slot] = .nan
                frame[condition.slot] = value.isNaN ? .nan : 0
            }
        }
    }

    private func fillGuest(_ frame: UnsafeMutableBufferPointer<Double>, sample: VMSample, vm: VMState, age: Double?) {
        func set(_ variable: Variable, _ value: UInt64?) { frame[variable.rawValue] = value.map { Double($0) } ?? .nan }
        frame[Variable.actual.rawValue] = Double(sample.actual)
        frame[Variable.max.rawValue] = Double(sample.limits.max)
        frame[Variable.min.rawValue] = Double(sample.limits.min)
        frame[Variable.target.rawValue] = Double(vm.progress?.target ?? sample.actual)
        let stats = sample.stats
        set(.total, stats?.total)
        set(.free, stats?.free)
        set(.available, stats?.available)
        set(.caches, stats?.diskCaches)
        set(.used, stats?.used)
        set(.swapIn, stats?.swapIn)
        set(.swapOut, stats?.swapOut)
        set(.majorFaults, stats?.majorFaults)
        set(.minorFaults, stats?.minorFaults)
        let counters = vm.counters
        frame[Variable.swapInRate.rawValue] = counters.swapInRate
        frame[Variable.swapOutRate.rawValue] = counters.swapOutRate
        frame[Variable.majorFaultsRate.rawValue] = counters.majorFaultsRate
        frame[Variable.minorFaultsRate.rawValue] = counters.minorFaultsRate
        frame[Variable.usedRate.rawValue] = vm.trend.usedRate
        frame[Variable.availableRate.rawValue] = vm.trend.availableRate
        frame[Variable.statsAge.rawValue] = age ?? .nan
    }

    /// Rates come from consecutive reports, not intervals: a report seen twice changes nothing, and a counter
    /// that went back (a guest reboot) gives an unknown rate until the next report.
    private func updateCounters(_ counters: inout VMState.Counters, stats: GuestStats, reportTime: Double) {
        if let previous = counters.reportTime, reportTime < previous + 0.5 { return }
        func value(_ number: UInt64?) -> Double { number.map { Double($0) } ?? .nan }
        let current = (value(stats.swapIn), value(stats.swapOut), value(stats.majorFaults), value(stats.minorFaults))
        if let previous = counters.reportTime {
            let seconds = reportTime - previous
            func rate(_ now: Double, _ before: Double) -> Double {
                now.isNaN || before.isNaN || now < before ? .nan : (now - before) / seconds
            }
            counters.swapInRate = rate(current.0, counters.swapIn)
            counters.swapOutRate = rate(current.1, counters.swapOut)
            counters.majorFaultsRate = rate(current.2, counters.majorFaults)
            counters.minorFaultsRate = rate(current.3, counters.minorFaults)
        }
        counters.reportTime = reportTime
        (counters.swapIn, counters.swapOut, counters.majorFaults, counters.minorFaults) = current
    }
}
