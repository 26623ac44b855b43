import PaysignAPI
import PaysignTestSupport
import Testing

/// A problem-details answer: status, `type`, `rule`, and words its detail must hold.
func expectProblem(
    _ answer: HTTPAnswer, _ status: Int, _ type: String, rule: String?, mentions: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(answer.status == status, "\(answer.text)", sourceLocation: sourceLocation)
    #expect(answer.problemType == "urn:paysign:problem:" + type, "\(answer.text)", sourceLocation: sourceLocation)
    #expect(answer.rule == rule, "rule: \(answer.text)", sourceLocation: sourceLocation)
    #expect(answer.headers["content-type"]?.hasPrefix("application/problem+json") == true, sourceLocation: sourceLocation)
    for word in mentions {
        #expect(answer.detail?.contains(word) == true, "detail should mention '\(word)': \(answer.text)", sourceLocation: sourceLocation)
    }
}
