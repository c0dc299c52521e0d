import QBalloonCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension DecisionEngine {
    /// Fits the VMs' plans to the host, in this order:
    /// 1. Growth for guests that need memory (under pressure first, then those short of their headroom), by shares:
    ///    it may take the host's MemAvailable into the reserve, down to the hard reserve, never below.
    /// 2. Other growth (rules), by shares: only what the host has above its reserve.
    /// 3. Below the reserve (counting what was granted), memory is taken back from guests that may give it (fresh
    ///    statistics, not under pressure, need not rising, not lately under pressure, not cooling down, no inflation
    ///    under way): idle memory first (shares and the idle-memory tax), never below `min` or the guest's use (and
    ///    recent peak) plus its headroom. While a guest that needs memory is being fed, or the host is under its hard
    ///    reserve, the givers' step and cooldown do not apply: they give at once. So a guest that needs memory is
    ///    served from idle guests before the reserve gives way for good, and the reserve gives way (to the hard
    ///    reserve) before that guest is left short.
    func arbitrate(_ plans: inout [Plan], host: HostSample, reserve: UInt64, hardReserve: UInt64) -> HostBudget {
        var budget = HostBudget(available: host.available, reserve: reserve)
        guard let available = host.available else { return budget }
        var pendingGrowth: Int64 = 0
        var pendingReclaim: Int64 = 0
        var safetyGrowth: Int64 = 0
        var requests: [Int] = []
        var wantedGrowth: Int64 = 0
        for index in plans.indices {
            let plan = plans[index]
            if plan.target == plan.actual {
                pendingGrowth += Int64(plan.pendingGrowth)
                pendingReclaim += Int64(plan.pendingReclaim)
            } else if plan.target > plan.actual {
                if plan.safety || plan.pinned {
                    safetyGrowth += Int64(plan.target - plan.actual)
                } else {
                    requests.append(index)
                    wantedGrowth += Int64(plan.target - plan.actual)
                }
            }
        }
        budget.growthWanted = UInt64(wantedGrowth)
        let base = Int64(available) - pendingGrowth - safetyGrowth
        var granted: Int64 = 0
        let groups: [(urgent: Bool, pressured: Bool)] = [(true, true), (true, false), (false, true), (false, false)]
        for (urgent, pressured) in groups {
            let group = requests.filter { plans[$0].urgent == urgent && plans[$0].pressured == pressured }
            guard !group.isEmpty else { continue }
            let room = Swift.max(base - Int64(urgent ? hardReserve : reserve) - granted, 0)
            let asks = group.map { Int64(plans[$0].target - plans[$0].actual) }
            let grants = Self.waterFill(asks: asks, weights: group.map { plans[$0].limits.shares }, total: room)
            for (position, index) in group.enumerated() {
                let grant = grants[position] >= asks[position] ? UInt64(asks[position]) : UInt64(grants[position]) / Self.page * Self.page
                granted += Int64(grant)
                let wanted = plans[index].target
                let target = plans[index].actual + grant
                if target < wanted {
                    plans[index].target = target
                    plans[index].adjustments.append(.growthCutByHostReserve(wanted: wanted, granted: target))
                }
            }
        }
        budget.growthGranted = UInt64(granted)

        var shrinking: Int64 = 0
        for plan in plans where plan.target < plan.actual { shrinking += Int64(plan.actual - plan.target) }
        let deficit =
            Int64(reserve) - Int64(available) + granted + safetyGrowth + pendingGrowth - pendingReclaim - shrinking
        guard deficit > 0 else { return budget }
        budget.reclaimNeeded = UInt64(deficit)
        // While a guest that needs memory is being fed (or the host is under its hard reserve), idle guests give at
        // once: their step and cooldown do not hold them back, their floors still do.
        let feedingGuest = requests.contains { plans[$0].urgent }
        let feeding = feedingGuest || available < hardReserve
        budget.feeding = feeding
        let floor = { (plan: Plan) -> UInt64 in feeding ? Self.feedFloor(plan) : Self.reclaimFloor(plan) }
        let victims = plans.indices.filter { index in
            let plan = plans[index]
            return (feeding ? plan.canFeed : plan.canGiveToHost) && plan.target > floor(plan)
        }
        let takes = reclaimAmounts(
            victims.map { plans[$0] }, floors: victims.map { floor(plans[$0]) }, deficit: Double(deficit))
        var reclaimed: UInt64 = 0
        for (position, index) in victims.enumerated() {
            let take = UInt64(takes[position]) / Self.page * Self.page
            guard take > 0 else { continue }
            plans[index].target -= take
            plans[index].adjustments.append(feeding ? .reclaimedAtOnce(take, forGuestInNeed: feedingGuest) : .reclaimedForHostReserve(take))
            reclaimed += take
        }
        budget.reclaimed = reclaimed
        budget.shortfall = reclaimed < UInt64(deficit) ? UInt64(deficit) - reclaimed : 0
        return budget
    }

    /// The lowest the arbiter takes a guest: its envelope's low bound, and the most it used lately plus its
    /// headroom (so reclaim never pushes a guest into swapping, a stalled inflation or its own pressure).
    static func reclaimFloor(_ plan: Plan) -> UInt64 {
        Swift.max(plan.low, plan.shrinkFloor ?? plan.actual)
    }

    /// The lowest the arbiter takes a guest to feed one that needs memory: the same floors as ``reclaimFloor(_:)``
    /// without the step and cooldown.
    static func feedFloor(_ plan: Plan) -> UInt64 {
        Swift.max(plan.feedLow, plan.shrinkFloor ?? plan.actual)
    }

    /// VMware ESX's idle-memory tax: a VM's claim is `shares / (used + k·idle)` with `k = 1/(1 - tax)`; memory
    /// is taken from the lowest claim until every giver's claim is level (or it is at its floor). Solved for
    /// the level by bisection; with no tax it takes in proportion to size over shares.
    func reclaimAmounts(_ victims: [Plan], floors: [UInt64], deficit: Double) -> [Double] {
        let rooms = zip(victims, floors).map { Double($0.target - $1) }
        let totalRoom = rooms.reduce(0, +)
        if totalRoom <= deficit { return rooms }
        let k = 1 / (1 - Swift.min(idleTax, 0.999))
        func amounts(level: Double) -> [Double] {
            zip(victims, rooms).map { plan, room in
                let used = Swift.max(plan.used, 0)
                let size = used + (Double(plan.limits.shares) / level - used) / k
                return Swift.min(Swift.max(Double(plan.target) - size, 0), room)
            }
        }
        var low = -80.0
        var high = 80.0
        for _ in 0..<100 {
            let middle = (low + high) / 2
            if amounts(level: pow(10, middle)).reduce(0, +) >= deficit { high = middle } else { low = middle }
        }
        return amounts(level: pow(10, high))
    }

    /// Splits `total` among `asks` in proportion to `weights`, never giving more than asked; what a satisfied
    /// ask leaves goes to the rest. Zero weights share only what the others leave, equally.
    static func waterFill(asks: [Int64], weights: [Int], total: Int64) -> [Int64] {
        var grants = [Int64](repeating: 0, count: asks.count)
        var active = Array(asks.indices).filter { asks[$0] > 0 }
        var remaining = total
        while remaining > 0, !active.isEmpty {
            let weightSum = active.reduce(0) { $0 + weights[$1] }
            let pool = remaining
            func share(_ index: Int) -> Int64 {
                weightSum > 0
                    ? Int64(Double(pool) * Double(weights[index]) / Double(weightSum))
                    : pool / Int64(active.count)
            }
            let satisfied = active.filter { asks[$0] - grants[$0] <= share($0) }
            if satisfied.isEmpty {
                for index in active {
                    let given = share(index)
                    grants[index] += given
                    remaining -= given
                }
                break
            }
            for index in satisfied {
                remaining -= asks[index] - grants[index]
                grants[index] = asks[index]
            }
            active.removeAll { satisfied.contains($0) }
        }
        return grants
    }
}

