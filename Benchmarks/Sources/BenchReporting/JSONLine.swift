/// Builds one JSON object, fields in insertion order, without Foundation.
public struct JSONLine {
    private var fields: [String] = []

    /// An empty object.
    public init() {}

    public mutating func add(_ key: String, _ value: String) { fields.append("\(Self.quoted(key)):\(Self.quoted(value))") }
    public mutating func add(_ key: String, _ value: Int) { fields.append("\(Self.quoted(key)):\(value)") }
    public mutating func add(_ key: String, _ value: UInt64) { fields.append("\(Self.quoted(key)):\(value)") }
    public mutating func add(_ key: String, _ value: Bool) { fields.append("\(Self.quoted(key)):\(value)") }
    public mutating func add(_ key: String, _ value: Double) {
        // JSON has no infinities or NaN; integral values print without a fraction, as Go's do.
        let number: String
        if !value.isFinite {
            number = "0"
        } else if value == value.rounded(), abs(value) < 1e15 {
            number = "\(Int64(value))"
        } else {
            number = "\(value)"
        }
        fields.append("\(Self.quoted(key)):\(number)")
    }

    public var text: String { "{" + fields.joined(separator: ",") + "}" }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
