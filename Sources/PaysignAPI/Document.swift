// The daemon's API contract: `openapi.json` beside this file is its only description. The build
// plugin of swift-openapi-generator makes the request and answer types from it
// (`Components.Schemas.*`); the daemon serves the same bytes at GET /v1/openapi.json.

package enum OpenAPIDocument {
    /// The document's bytes, embedded at build time.
    package static let bytes: [UInt8] = PackageResources.openapi_json
}
