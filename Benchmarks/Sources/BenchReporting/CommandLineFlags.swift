/// A command-line mistake; a nil message asks for the usage text alone.
public struct UsageError: Error {
    /// What was wrong, or nil for "show the usage".
    public var message: String?
    /// Creates the error.
    public init(_ message: String?) { self.message = message }
}

/// The flag syntax the benchmark tools share with the anchor's Go tools: `--flag value` or
/// `--flag=value` (one or two dashes), `-h`/`--help` for the usage.
public enum CommandLineFlags {
    /// The `(name, value)` pairs of `arguments` (without the program name), in order.
    public static func split(_ arguments: [String]) throws(UsageError) -> [(name: String, value: String)] {
        var flags: [(name: String, value: String)] = []
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            if argument == "-h" || argument == "--help" || argument == "-help" { throw UsageError(nil) }
            guard argument.hasPrefix("-") else { throw UsageError("unexpected argument \(argument)") }
            var name = String(argument.drop(while: { $0 == "-" }))
            let value: String
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            } else {
                guard let next = remaining.popFirst() else { throw UsageError("flag --\(name) needs a value") }
                value = next
            }
            flags.append((name, value))
        }
        return flags
    }

    /// An integer of at least `minimum`.
    public static func integer(_ text: String, _ name: String, minimum: Int) throws(UsageError) -> Int {
        guard let value = Int(text), value >= minimum else {
            throw UsageError("--\(name) needs an integer of at least \(minimum), got \(text)")
        }
        return value
    }

    /// Bare seconds ("10", "2.5") or a Go duration ("10s", "1500ms").
    public static func seconds(_ text: String, _ name: String, allowZero: Bool = false) throws(UsageError) -> Double {
        let value: Double
        if let bare = Double(text) {
            value = bare
        } else {
            value = try duration(text, name).seconds
        }
        guard value > 0 || (allowZero && value == 0), value.isFinite else {
            throw UsageError("--\(name) must be \(allowZero ? "zero or more" : "positive"), got \(text)")
        }
        return value
    }

    /// A Go-style duration: one or more number+unit pairs ("500ms", "1m30s", "1.5s").
    public static func duration(_ text: String, _ name: String) throws(UsageError) -> Duration {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var rest = Substring(text)
        var nanoseconds = 0.0
        guard !rest.isEmpty else { throw UsageError("--\(name) needs a duration such as 500ms, got an empty value") }
        while !rest.isEmpty {
            let number = rest.prefix(while: { $0.isNumber || $0 == "." })
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix(while: { !($0.isNumber || $0 == ".") })
            rest = rest.dropFirst(unitText.count)
            guard let amount = Double(number),
                let unit = units.first(where: { $0.0 == unitText })
            else {
                throw UsageError("--\(name) needs a duration such as 500ms or 1.5s, got \(text)")
            }
            nanoseconds += amount * unit.1
        }
        guard nanoseconds > 0, nanoseconds.isFinite else { throw UsageError("--\(name) must be positive, got \(text)") }
        return .nanoseconds(Int64(nanoseconds.rounded()))
    }
}

extension Duration {
    /// This duration in seconds.
    public var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }

    /// This duration in milliseconds.
    public var milliseconds: Double { seconds * 1e3 }
}
