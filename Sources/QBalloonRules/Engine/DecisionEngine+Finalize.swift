import QBalloonCore

extension DecisionEngine {
    /// Applies the deadband, turns the plan into a decision and remembers what was sent.
    func finalize(_ plan: inout Plan, sample: VMSample, vm: inout VMState, now: Double) -> Decision? {
        let actual = plan.actual
        var target = plan.target
        // Whole pages, rounded toward `actual` so the envelope's bounds still hold.
        if target > actual {
            target = target / Self.page * Self.page
        } else if target < actual {
            target = (target + Self.page - 1) / Self.page * Self.page
        }
        var to: UInt64?
        let deadband = plan.limits.deadband
        if plan.safety {
            to = target
        } else if plan.pinned {
            // Sent once: not again while the balloon is there or on its way there.
            let distance = { (a: UInt64, b: UInt64) in a > b ? a - b : b - a }
            if distance(target, actual) >= Self.page, vm.progress.map({ distance($0.target, target) >= Self.page }) ?? true {
                to = target
            }
        } else if plan.urgent, target > actual {
            to = target  // a guest that needs memory gets it, however little
            plan.adjustments.append(.grownAtOnce)
        } else if target != actual {
            let change = target > actual ? target - actual : actual - target
            if change < deadband {
                plan.adjustments.append(.belowDeadband(deadband))
            } else if let moving = plan.movingTo, (target > moving ? target - moving : moving - target) < deadband {
                plan.adjustments.append(.alreadyHeading(moving))
            } else {
                to = target
            }
        }
        if let to {
            vm.lastChangeAt = now
            if dryRun {
                plan.adjustments.append(.dryRun)
            } else {
                vm.progress = BalloonProgress(
                    requested: to, ramBytes: sample.ram, startedAt: now, stallAfter: plan.limits.stallAfter, from: actual)
                if to < actual {
                    vm.lastShrinkFrom = actual
                    vm.lastShrinkAt = now
                }
                if plan.reason == .stallRecovery {
                    vm.stallFloor = to
                    vm.stallFloorUntil = now + plan.limits.stallHold
                } else if plan.reason == .inflationAborted, plan.pressured {
                    vm.stallFloor = Swift.min(to, actual &+ plan.limits.giveBack)
                    vm.stallFloorUntil = now + plan.limits.stallHold
                }
            }
        }
        guard plan.wanted != nil || to != nil || !plan.adjustments.isEmpty else { return nil }
        return Decision(
            vm: sample.name, from: actual, to: to, wanted: plan.wanted, reason: plan.reason ?? .hostReserve,
            figures: plan.figures, adjustments: plan.adjustments, pressured: plan.pressured)
    }
}
