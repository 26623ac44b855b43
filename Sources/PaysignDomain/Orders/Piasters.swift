/// Amounts in Egyptian pounds, written from piasters (1 EGP = 100 piasters) with integer
/// arithmetic only: no locale, no floating point. Western digits, as the Ministry's own forms
/// and circulars write amounts and account numbers.
public enum Piasters {
    /// `"1,234,567.89"` from piasters; negative numbers with a leading minus.
    public static func egp(_ piasters: Int64, grouped: Bool) -> String {
        let magnitude = piasters.magnitude  // UInt64: Int64.min has a magnitude too
        let pounds = Array(String(magnitude / 100).utf8)
        let cents = magnitude % 100
        var out: [UInt8] = []
        out.reserveCapacity(pounds.count + pounds.count / 3 + 4)
        if piasters < 0 { out.append(UInt8(ascii: "-")) }
        for (index, digit) in pounds.enumerated() {
            if grouped, index > 0, (pounds.count - index) % 3 == 0 { out.append(UInt8(ascii: ",")) }
            out.append(digit)
        }
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(cents / 10))
        out.append(UInt8(ascii: "0") + UInt8(cents % 10))
        return String(decoding: out, as: UTF8.self)
    }
}
