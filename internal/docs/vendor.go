package docs

// vendored records a front-end package copied into ui/ from the npm
// registry: its release, the tarball's integrity as npm reports it
// (dist.integrity), and the SHA-256 of every file taken from it. A test
// checks the embedded files against these sums; swagger-ui.sh refreshes
// them when the package is updated.
type vendored struct {
	Package   string
	Version   string
	Integrity string
	Dir       string            // under ui/
	Files     map[string]string // file -> SHA-256 (hex)
}

// swaggerUI is the API explorer served at /docs.
var swaggerUI = vendored{
	Package:   "swagger-ui-dist",
	Version:   "5.35.0",
	Integrity: "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
	Dir:       "swagger-ui",
	Files: map[string]string{
		"LICENSE":                          "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
		"NOTICE":                           "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
		"favicon-32x32.png":                "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837",
		"swagger-ui-bundle.js":             "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
		"swagger-ui-bundle.js.LICENSE.txt": "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb",
		"swagger-ui.css":                   "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
	},
}
