/// An Egyptian governorate as the national ID's digits 8–9 code it (the place of birth
/// registration). The official list; `88` is a birth registered abroad.
public enum Governorate: Int, Sendable, Hashable, Codable, CaseIterable {
    case cairo = 1, alexandria = 2, portSaid = 3, suez = 4
    case damietta = 11, dakahlia = 12, sharqia = 13, qalyubia = 14, kafrElSheikh = 15, gharbia = 16
    case monufia = 17, beheira = 18, ismailia = 19
    case giza = 21, beniSuef = 22, fayoum = 23, minya = 24, asyut = 25, sohag = 26, qena = 27, aswan = 28
    case luxor = 29
    case redSea = 31, newValley = 32, matrouh = 33, northSinai = 34, southSinai = 35
    case bornAbroad = 88

    public var name: String {
        switch self {
        case .cairo: return "Cairo"
        case .alexandria: return "Alexandria"
        case .portSaid: return "Port Said"
        case .suez: return "Suez"
        case .damietta: return "Damietta"
        case .dakahlia: return "Dakahlia"
        case .sharqia: return "Sharqia"
        case .qalyubia: return "Qalyubia"
        case .kafrElSheikh: return "Kafr El Sheikh"
        case .gharbia: return "Gharbia"
        case .monufia: return "Monufia"
        case .beheira: return "Beheira"
        case .ismailia: return "Ismailia"
        case .giza: return "Giza"
        case .beniSuef: return "Beni Suef"
        case .fayoum: return "Fayoum"
        case .minya: return "Minya"
        case .asyut: return "Asyut"
        case .sohag: return "Sohag"
        case .qena: return "Qena"
        case .aswan: return "Aswan"
        case .luxor: return "Luxor"
        case .redSea: return "Red Sea"
        case .newValley: return "New Valley"
        case .matrouh: return "Matrouh"
        case .northSinai: return "North Sinai"
        case .southSinai: return "South Sinai"
        case .bornAbroad: return "born abroad"
        }
    }
}

/// An Egyptian national ID, checked for its structure:
///
/// ```
/// position  1     2-7      8-9          10-13      14
///           C     YYMMDD   GG           SSSS       K
///           century birth  governorate  sequence   check digit
/// ```
/// - `C`: `2` for births in 1900–1999, `3` for 2000–2099 (no other value is accepted).
/// - `YYMMDD`: the birth date; it must exist (no February 30) and not be after `today`.
/// - `GG`: a code of `Governorate` (official list, `88` = born abroad).
/// - `SSSS`: a sequence number (its last digit is odd for men, even for women); not checked.
/// - `K`: a check digit. Its algorithm is **not public**, so it is deliberately not verified here;
///   no algorithm is guessed (a guessed one would refuse real IDs).
public struct NationalID: Sendable, Hashable, CustomStringConvertible {
    /// The 14 digits.
    public let digits: String
    public let birthDate: CalendarDay
    public let governorate: Governorate

    public var description: String { digits }

    /// Why a text is not a national ID.
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case wrongLength(Int)
        case notDigits
        case unknownCentury(Character)
        case invalidBirthDate(String)
        case futureBirthDate(CalendarDay)
        case unknownGovernorate(String)

        public var description: String {
            switch self {
            case .wrongLength(let n): return "a national ID has 14 digits (got \(n) characters)"
            case .notDigits: return "a national ID has digits only"
            case .unknownCentury(let c): return "the century digit must be 2 (1900s) or 3 (2000s), not \(c)"
            case .invalidBirthDate(let text): return "the birth date \(text) (YYMMDD) does not exist"
            case .futureBirthDate(let day): return "the birth date \(day) is in the future"
            case .unknownGovernorate(let code): return "the governorate code \(code) is not on the official list"
            }
        }
    }

    /// Checks `text` against the structure above, with `today` for the future-birth-date check.
    public static func parse(_ text: String, today: CalendarDay) -> Result<NationalID, Problem> {
        let bytes = Array(text.utf8)
        guard bytes.count == 14 else { return .failure(.wrongLength(bytes.count)) }
        guard bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return .failure(.notDigits) }
        func number(_ from: Int, _ count: Int) -> Int {
            var n = 0
            for i in from..<(from + count) { n = n * 10 + Int(bytes[i] - 0x30) }
            return n
        }
        let century: Int
        switch bytes[0] {
        case UInt8(ascii: "2"): century = 1900
        case UInt8(ascii: "3"): century = 2000
        default: return .failure(.unknownCentury(Character(Unicode.Scalar(bytes[0]))))
        }
        guard let birth = CalendarDay(year: century + number(1, 2), month: number(3, 2), day: number(5, 2)) else {
            return .failure(.invalidBirthDate(String(decoding: bytes[1..<7], as: UTF8.self)))
        }
        guard birth <= today else { return .failure(.futureBirthDate(birth)) }
        guard let governorate = Governorate(rawValue: number(7, 2)) else {
            return .failure(.unknownGovernorate(String(decoding: bytes[7..<9], as: UTF8.self)))
        }
        return .success(NationalID(digits: text, birthDate: birth, governorate: governorate))
    }
}

/// A passport number as the order file carries it for a foreign non-resident (D12): 6 to 9
/// ASCII letters and digits, nothing else (no spaces, no dashes). Letters are compared
/// case-insensitively when looking for duplicates.
public enum PassportNumber {
    public static func isValid(_ text: String) -> Bool {
        let bytes = text.utf8
        return (6...9).contains(bytes.count) && bytes.allSatisfy(isASCIIAlphanumeric)
    }
}

@inline(__always) func isASCIIDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
@inline(__always) func isASCIIAlphanumeric(_ b: UInt8) -> Bool {
    isASCIIDigit(b) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
}
