import Testing
@testable import QBalloonRules

/// Exact messages, with the caret lines, as `qballoon check` prints them.
@Suite("Rule language: errors at load time")
struct ExpressionErrorTests {
    @Test(
        "when: errors point at the spot",
        arguments: [
            (
                "avialable > 40% of actual for 60s",
                """
                x.toml:7: rule "r": when: unknown variable 'avialable' (did you mean 'available'?)
                    avialable > 40% of actual for 60s
                    ^~~~~~~~~
                """
            ),
            (
                "available > 60s",
                """
                x.toml:7: rule "r": when: cannot compare bytes ('available') with a duration ('60s')
                    available > 60s
                    ~~~~~~~~~ ^ ~~~
                """
            ),
            (
                "available < 10%",
                """
                x.toml:7: rule "r": when: cannot compare bytes ('available') with a percentage ('10%'); turn a percentage into a size with 'of', like '10% of actual'
                    available < 10%
                    ~~~~~~~~~ ^ ~~~
                """
            ),
            (
                "swap_in_rate > 1MiB",
                """
                x.toml:7: rule "r": when: cannot compare a rate ('swap_in_rate') with bytes ('1MiB'); write a rate per second, like '1MiB/s'
                    swap_in_rate > 1MiB
                    ~~~~~~~~~~~~ ^ ~~~~
                """
            ),
            (
                "available > 2GB",
                """
                x.toml:7: rule "r": when: unknown unit 'GB': sizes are binary, write GiB or G
                    available > 2GB
                                 ^~
                """
            ),
            (
                "stats_age > 10 sec",
                """
                x.toml:7: rule "r": when: write the unit right after its number, without a space
                    stats_age > 10 sec
                                ^~~~~~
                """
            ),
            (
                "available > 1GiB for 60",
                """
                x.toml:7: rule "r": when: 'for' needs a duration, not a number: add a unit, like '60s'
                    available > 1GiB for 60
                                         ^~
                """
            ),
            (
                "available > 1GiB &&  free > 0",
                """
                x.toml:7: rule "r": when: use 'and' instead of '&&'
                    available > 1GiB &&  free > 0
                                     ^~
                """
            ),
            (
                "(available > 1GiB",
                """
                x.toml:7: rule "r": when: '(' is never closed
                    (available > 1GiB
                    ^
                """
            ),
            (
                "available > ",
                """
                x.toml:7: rule "r": when: the expression ends too early: expected a value
                    available >
                                ^
                """
            ),
            (
                "available + 1GiB",
                """
                x.toml:7: rule "r": when: expected a condition, like 'available < 10% of actual', but this is bytes
                    available + 1GiB
                    ^~~~~~~~~~~~~~~~
                """
            ),
            (
                "avg(available) > 0",
                """
                x.toml:7: rule "r": when: unknown function 'avg' (functions: min, max)
                    avg(available) > 0
                    ^~~
                """
            ),
            (
                "pressure and available > 10 and 1 < 2 < 3",
                """
                x.toml:7: rule "r": when: comparisons cannot be chained: write 'a < b and b < c'
                    pressure and available > 10 and 1 < 2 < 3
                                                          ^
                """
            ),
            (
                "available and free > 0",
                """
                x.toml:7: rule "r": when: 'and' needs conditions on both sides, but 'available' is bytes
                    available and free > 0
                    ~~~~~~~~~ ^~~ ~~~~~~~~
                """
            ),
            (
                "40 of actual > 1GiB",
                """
                x.toml:7: rule "r": when: 'of' needs a percentage before it, like '40% of actual', but '40' is a number
                    40 of actual > 1GiB
                    ~~ ^~ ~~~~~~
                """
            ),
        ])
    func whenErrors(expression: String, expected: String) {
        #expect(ruleError(when: expression) == expected)
    }

    @Test("every unknown variable in an expression is reported")
    func severalUnknowns() {
        #expect(
            ruleError(when: "availble > 1GiB or fre < 1GiB")
                == """
                x.toml:7: rule "r": when: unknown variable 'availble' (did you mean 'available'?)
                    availble > 1GiB or fre < 1GiB
                    ^~~~~~~~
                x.toml:7: rule "r": when: unknown variable 'fre' (did you mean 'free'?)
                    availble > 1GiB or fre < 1GiB
                                       ^~~
                """)
    }

    @Test(
        "set: must be a size",
        arguments: [
            (
                "50%",
                """
                x.toml:8: rule "r": set: expected a size, like 'used + 1GiB', but this is a percentage: write '50% of max' (or of actual, total...)
                    50%
                    ^~~
                """
            ),
            (
                "actual > 1GiB",
                """
                x.toml:8: rule "r": set: expected a size, like 'used + 1GiB', but this is a condition
                    actual > 1GiB
                    ^~~~~~~~~~~~~
                """
            ),
            (
                "actual + 10s",
                """
                x.toml:8: rule "r": set: cannot add a duration ('10s') to bytes ('actual')
                    actual + 10s
                    ~~~~~~ ^ ~~~
                """
            ),
            (
                "actual * used",
                """
                x.toml:8: rule "r": set: cannot multiply bytes ('actual') by bytes ('used')
                    actual * used
                    ~~~~~~ ^ ~~~~
                """
            ),
            (
                "actual / 0",
                """
                x.toml:8: rule "r": set: division by zero
                    actual / 0
                    ~~~~~~ ^ ~
                """
            ),
        ])
    func setErrors(expression: String, expected: String) {
        #expect(ruleError(set: expression) == expected)
    }

    @Test("errors in a multi-line string point at the right line")
    func multiLine() {
        let text = """
            [[vm]]
            qmp = "/run/qemu/*.qmp"
            [[rule]]
            name = "long"
            when = \"\"\"
            available > 40% of actual
              and swap_in_rat == 0\"\"\"
            set = "used"
            """
        #expect(
            configError(text)
                == """
                x.toml:7: rule "long": when: unknown variable 'swap_in_rat' (did you mean 'swap_in_rate'?)
                      and swap_in_rat == 0
                          ^~~~~~~~~~~
                """)
    }

    @Test("'pressure' cannot refer to itself")
    func pressureSelfReference() {
        let text = """
            [defaults]
            pressure = "pressure or available < 1GiB"
            [[vm]]
            qmp = "/run/qemu/*.qmp"
            """
        #expect(
            configError(text)
                == """
                x.toml:2: [defaults]: pressure: 'pressure' cannot be used inside the pressure condition itself
                    pressure or available < 1GiB
                    ^~~~~~~~
                """)
    }

    @Test("error columns in the file")
    func fileColumn() throws {
        do {
            _ = try QBalloonConfig.parse("[[vm]]\nqmp = \"/a.qmp\"\n[[rule]]\nname = \"r\"\nwhen = \"x > 1\"\nset = \"actual\"\n", file: "f")
            Issue.record("no error")
        } catch {
            #expect(error.errors.count == 1)
            #expect(error.errors[0].line == 5)
            #expect(error.errors[0].column == 9)
        }
    }
}
