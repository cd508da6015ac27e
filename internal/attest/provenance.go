package attest

import "time"

// ProvenanceGate is what the signature gate required of the image's SLSA
// provenance and the verified facts it accepted, per digest judged.
type ProvenanceGate struct {
	Settings ProvenanceSettings `json:"settings"`
	Facts    []ProvenanceFacts  `json:"facts"`
}

// ProvenanceSettings is the provenance block as configured.
type ProvenanceSettings struct {
	SourceRepository      string `json:"sourceRepository,omitempty"`
	SourceOwner           string `json:"sourceOwner,omitempty"`
	SignerWorkflow        string `json:"signerWorkflow,omitempty"`
	SourceRef             string `json:"sourceRef,omitempty"`
	DenySelfHostedRunners bool   `json:"denySelfHostedRunners"`
	PredicateType         string `json:"predicateType"`
	MaxAge                string `json:"maxAge,omitempty"`
}

// ProvenanceFacts are what a verified provenance attestation says about
// the build (certificate extensions, the predicate's builder id) and when
// it was signed (its verified time).
type ProvenanceFacts struct {
	Digest            string    `json:"digest"`
	Platform          string    `json:"platform,omitempty"`
	Repository        string    `json:"repository"`
	Ref               string    `json:"ref"`
	Commit            string    `json:"commit"`
	Workflow          string    `json:"workflow"`
	Builder           string    `json:"builder,omitempty"`
	RunnerEnvironment string    `json:"runnerEnvironment"`
	Invocation        string    `json:"invocation,omitempty"`
	Issuer            string    `json:"issuer"`
	BuildTime         time.Time `json:"buildTime"`
}
