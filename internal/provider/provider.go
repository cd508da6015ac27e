// Package provider is the Terraform surface of imageguard: schemas, models,
// validation and diagnostics. It converts HCL values to plain Go values,
// calls the packages that do the work, and converts the results back.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/exploit"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// New returns a provider factory for the given version.
func New(version string, opts ...Option) func() provider.Provider {
	p := imageguardProvider{version: version, now: time.Now}
	for _, o := range opts {
		o(&p)
	}
	return func() provider.Provider { c := p; return &c }
}

// Option configures the provider New serves, in go-containerregistry's
// style: tests inject a clock and a dialer without package globals, so
// that they can run in parallel.
type Option func(*imageguardProvider)

// WithClock sets the clock resources judge and sign by (default
// time.Now): a test can sign "200 hours ago".
func WithClock(now func() time.Time) Option {
	return func(p *imageguardProvider) { p.now = now }
}

// WithDialContext sets the dialer of every registry, scanner server and
// feed connection: a test can give a loopback server a non-loopback name.
func WithDialContext(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(p *imageguardProvider) { p.dial = dial }
}

type imageguardProvider struct {
	version string
	now     func() time.Time
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
}

type providerModel struct {
	Registries      []registryModel    `tfsdk:"registry"`
	Timeout         types.String       `tfsdk:"timeout"`
	VulnerabilityDB []vulnDBModel      `tfsdk:"vulnerability_db"`
	ScannerServer   []serverModel      `tfsdk:"scanner_server"`
	ExploitData     []exploitDataModel `tfsdk:"exploit_data"`
}

type serverModel struct {
	URL           types.String `tfsdk:"url"`
	Token         types.String `tfsdk:"token"`
	TokenHeader   types.String `tfsdk:"token_header"`
	CustomHeaders types.Map    `tfsdk:"custom_headers"`
	CACertPEM     types.String `tfsdk:"ca_cert_pem"`
	Insecure      types.Bool   `tfsdk:"insecure"`
	FleetCacheKey types.String `tfsdk:"fleet_cache_key"`
}

type vulnDBModel struct {
	Repositories     types.List   `tfsdk:"repositories"`
	JavaRepositories types.List   `tfsdk:"java_repositories"`
	CacheDir         types.String `tfsdk:"cache_dir"`
	MaxAge           types.String `tfsdk:"max_age"`
	SkipUpdate       types.Bool   `tfsdk:"skip_update"`
}

type registryModel struct {
	Address   types.String `tfsdk:"address"`
	Username  types.String `tfsdk:"username"`
	Password  types.String `tfsdk:"password"`
	Token     types.String `tfsdk:"token"`
	Insecure  types.Bool   `tfsdk:"insecure"`
	CACertPEM types.String `tfsdk:"ca_cert_pem"`
}

// defaultTimeout bounds one data source read.
const defaultTimeout = 5 * time.Minute

// providerData is what Configure hands to every data source and resource.
type providerData struct {
	Registry *registry.Client
	Timeout  time.Duration
	Version  string
	// Scanner scans platform images; DBMaxAge is the freshness bound that
	// every scan's database (local or server) must meet.
	Scanner  *scan.Scanner
	DBMaxAge time.Duration
	CacheDir string
	// Exploits is the exploitation data (KEV, EPSS) every scan gate judges
	// with; nil without an `exploit_data` block.
	Exploits *exploit.Manager

	// verifiers holds one Verifier per trust setting: a Verifier keeps its
	// trusted root and registry connections for the whole plan.
	verifiersMu sync.Mutex
	verifiers   map[string]*verify.Verifier
	// verifications counts signature-gate evaluations (benchmarks).
	verifications atomic.Int64
	// approvals and verdicts carry what a plan judged to the apply in the
	// same provider process: imageguard_pin's facts per pinned reference,
	// imageguard_attestation's judgement per planned change (the apply
	// signs exactly what the plan judged, or judges again).
	approvals handoff[approvalFacts]
	verdicts  handoff[pendingVerdict]
	// now is the provider's clock (WithClock).
	now func() time.Time
}

// handoff carries values from a plan to the apply in the same provider
// process; a value is for one apply and taken by it.
type handoff[V any] struct{ m sync.Map }

func (h *handoff[V]) put(key string, v V) { h.m.Store(key, v) }

// get returns the value for key and leaves it for a later apply of the
// same plan.
func (h *handoff[V]) get(key string) (V, bool) {
	v, ok := h.m.Load(key)
	out, _ := v.(V)
	return out, ok
}

// take returns the value for key and forgets it.
func (h *handoff[V]) take(key string) (V, bool) {
	v, ok := h.m.LoadAndDelete(key)
	out, _ := v.(V)
	return out, ok
}

// verifier returns the process's Verifier for these trust settings.
func (d *providerData) verifier(opts verify.Options) (*verify.Verifier, error) {
	key := opts.TLog + "\x00" + opts.TrustedRootJSON
	d.verifiersMu.Lock()
	defer d.verifiersMu.Unlock()
	if v, ok := d.verifiers[key]; ok {
		return v, nil
	}
	opts.CacheDir = d.CacheDir
	opts.RemoteOptions = d.Registry.RemoteOptions()
	opts.Transport = d.Registry.Transport() // referrers listings are followed across pages on it
	v, err := verify.New(opts)
	if err != nil {
		return nil, err
	}
	if d.verifiers == nil {
		d.verifiers = map[string]*verify.Verifier{}
	}
	d.verifiers[key] = v
	return v, nil
}

func (p *imageguardProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "imageguard"
	resp.Version = p.version
}

func (p *imageguardProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Container-security guardrails evaluated during `terraform plan`: resolve image tags to digests, " +
			"and hand out only digest-pinned references. `provider \"imageguard\" {}` with no arguments works: " +
			"credentials then come from the docker config (`DOCKER_CONFIG` or `~/.docker/config.json`) and its credential helpers.",
		Attributes: map[string]schema.Attribute{
			"timeout": schema.StringAttribute{
				Optional: true, Validators: []validator.String{validate.Duration()},
				MarkdownDescription: "Upper bound for one data source read, as a Go duration (e.g. `\"90s\"`, `\"10m\"`). Default `\"5m\"`. " +
					"Requests that fail with 429, 5xx or a temporary network error are retried with backoff within this bound.",
			},
		},
		Blocks: map[string]schema.Block{
			"vulnerability_db": schema.ListNestedBlock{
				MarkdownDescription: "Where the Trivy vulnerability database comes from and how fresh it must be. At most one block. " +
					"The database is downloaded at most once per provider process, only when the cached copy is past its `NextUpdate`, " +
					"and only when a scan needs it.",
				Validators: []validator.List{listvalidator.SizeAtMost(1)},
				NestedObject: schema.NestedBlockObject{
					Attributes: map[string]schema.Attribute{
						"repositories": schema.ListAttribute{
							Optional: true, ElementType: types.StringType, Validators: []validator.List{listvalidator.ValueStringsAre(validate.ImageReference())},
							MarkdownDescription: "OCI repositories of the Trivy DB, tried in order. Default: Trivy's own, " +
								"`[\"mirror.gcr.io/aquasec/trivy-db:2\", \"ghcr.io/aquasecurity/trivy-db:2\"]`. The provider's `registry` credentials apply to mirrors.",
						},
						"java_repositories": schema.ListAttribute{
							Optional: true, ElementType: types.StringType, Validators: []validator.List{listvalidator.ValueStringsAre(validate.ImageReference())},
							MarkdownDescription: "OCI repositories of the Trivy Java DB (for JAR scanning), tried in order. Default: Trivy's own, " +
								"`[\"mirror.gcr.io/aquasec/trivy-java-db:1\", \"ghcr.io/aquasecurity/trivy-java-db:1\"]`. " +
								"Downloaded into `cache_dir/java-db` only when an image holds a JAR, with the provider's `registry` credentials and transport, and held to " +
								"`max_age` (and never from the future) like the vulnerability database. Without a usable Java DB, an image with JARs is a scan error, never a pass.",
						},
						"cache_dir": schema.StringAttribute{
							Optional: true,
							MarkdownDescription: "Directory for the database, Trivy's layer cache and cached reports. Default: `$IMAGEGUARD_CACHE_DIR` " +
								"when set (for CI and HCP Terraform workers), else the user cache directory + `/imageguard` (e.g. `~/.cache/imageguard`). " +
								"Cached reports decide verdicts, so it must be owned by the user running Terraform and writable by nobody else (`chmod 700`); it is created with mode 0700 when missing.",
						},
						"max_age": schema.StringAttribute{
							Optional: true, Validators: []validator.String{validate.Duration()},
							MarkdownDescription: "Oldest acceptable database (and Java DB), by its `UpdatedAt`, as a Go duration. Default `\"72h\"`. " +
								"An older database is a plan error, never a pass; so is one dated more than 5 minutes in the future (a cached one must be deleted from `cache_dir/db`).",
						},
						"skip_update": schema.BoolAttribute{
							Optional:            true,
							MarkdownDescription: "Never download: use the database already in `cache_dir` (air-gapped use). `max_age` still applies. Default `false`.",
						},
					},
				},
			},
			"exploit_data": exploitDataBlock(),
			"scanner_server": schema.ListNestedBlock{
				MarkdownDescription: "Scan through a shared `trivy server` (client/server mode) instead of a local database. At most one block. " +
					"The worker reads layers from the registry and analyses only those the server's cache lacks; the server detects vulnerabilities. " +
					"No local vulnerability database is downloaded or opened, and a failure never falls back to one. `vulnerability_db.max_age` applies to the server's database. " +
					"The server's layer cache is keyed with a secret the token does not give: by default the worker's own (kept in `cache_dir`), so another client of the server cannot change this worker's verdicts; " +
					"`fleet_cache_key` shares analyses among the workers that hold it.",
				Validators: []validator.List{listvalidator.SizeAtMost(1)},
				NestedObject: schema.NestedBlockObject{
					Attributes: map[string]schema.Attribute{
						"url": schema.StringAttribute{Required: true, Validators: []validator.String{serverURLValidator{}},
							MarkdownDescription: "Server URL, e.g. `https://trivy.example.com:4954`. Plain `http://` only on loopback unless `insecure = true`. " +
								"No `user:password@` (give the token in `token`); redirects from the server are never followed."},
						"token": schema.StringAttribute{Optional: true, Sensitive: true,
							MarkdownDescription: "Token for the server's `--token`, sent in `token_header`. Sensitive: never in state, logs or messages."},
						"token_header": schema.StringAttribute{Optional: true, MarkdownDescription: "Header carrying the token. Default `Trivy-Token`, as Trivy's client."},
						"custom_headers": schema.MapAttribute{Optional: true, Sensitive: true, ElementType: types.StringType,
							MarkdownDescription: "Extra headers for every request to the server (e.g. for a gateway in front of it). Sensitive."},
						"ca_cert_pem": schema.StringAttribute{Optional: true, MarkdownDescription: "PEM certificate(s) of a private CA to trust for the server."},
						"insecure":    schema.BoolAttribute{Optional: true, MarkdownDescription: "Allow plain HTTP to a non-loopback server and unverified TLS. Default `false`."},
						"fleet_cache_key": schema.StringAttribute{Optional: true, Sensitive: true,
							Validators: []validator.String{stringvalidator.LengthAtLeast(scan.MinFleetCacheKeyLength)},
							MarkdownDescription: "Opt-in: a secret shared by the workers that trust each other's layer analyses, at least 32 random characters (e.g. from `openssl rand -hex 32`). " +
								"Workers that hold it reuse each other's analyses in the server's cache (a layer any of them analysed is not downloaded again); " +
								"whoever holds it and the token can make those workers pass an image, so give it only to workers of one trust domain, with one server per trust domain. " +
								"Unset (the default): analyses are reused only by this worker, keyed with a random key kept in `cache_dir`. Sensitive: never in state, logs or messages."},
					},
				},
			},
			"registry": schema.ListNestedBlock{
				MarkdownDescription: "Credentials and transport security for one registry. Registries without a block use the docker config " +
					"and its credential helpers. Loopback registries (127.0.0.0/8, `localhost`, `::1`) may speak plain HTTP; any other registry needs `insecure = true` for that.",
				NestedObject: schema.NestedBlockObject{
					Attributes: map[string]schema.Attribute{
						"address": schema.StringAttribute{
							Required:            true,
							MarkdownDescription: "Registry host and optional port, e.g. `\"registry.example.com\"` or `\"localhost:5000\"`. `docker.io` means Docker Hub.",
						},
						"username": schema.StringAttribute{
							Optional:            true,
							MarkdownDescription: "User name for basic authentication (with `password`).",
						},
						"password": schema.StringAttribute{
							Optional:            true,
							Sensitive:           true,
							MarkdownDescription: "Password or access token for basic authentication. Sensitive: never in state, logs or messages.",
						},
						"token": schema.StringAttribute{
							Optional:            true,
							Sensitive:           true,
							MarkdownDescription: "Bearer token sent as `Authorization: Bearer <token>`, instead of `username`/`password`. Sensitive.",
						},
						"insecure": schema.BoolAttribute{
							Optional:            true,
							MarkdownDescription: "Allow plain HTTP and unverified TLS for this registry only. Default `false`.",
						},
						"ca_cert_pem": schema.StringAttribute{
							Optional:            true,
							MarkdownDescription: "PEM certificate(s) of a private CA to trust for this registry, in addition to the system roots.",
						},
					},
				},
			},
		},
	}
}

func (p *imageguardProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}

	// The schema's validators own every value's shape (durations,
	// references, sources, at most one block of each kind).
	timeout := defaultTimeout
	if s := cfg.Timeout.ValueString(); s != "" {
		timeout, _ = policy.ParseDuration(s)
	}

	var regs []registry.RegistryOptions
	for i, r := range cfg.Registries {
		at := path.Root("registry").AtListIndex(i)
		if r.Address.IsUnknown() || r.Username.IsUnknown() || r.Password.IsUnknown() || r.Token.IsUnknown() {
			resp.Diagnostics.AddAttributeError(at, "Registry settings not known at plan",
				"The `registry` block depends on values known only after apply. imageguard evaluates its gates during plan, so registry settings must be known then: use variables or data sources, not resource attributes.")
			return
		}
		regs = append(regs, registry.RegistryOptions{
			Address:   r.Address.ValueString(),
			Username:  r.Username.ValueString(),
			Password:  r.Password.ValueString(),
			Token:     r.Token.ValueString(),
			Insecure:  r.Insecure.ValueBool(),
			CACertPEM: r.CACertPEM.ValueString(),
		})
	}

	client, err := registry.New(registry.Options{
		Registries:  regs,
		UserAgent:   "terraform-provider-imageguard/" + p.version,
		DialContext: p.dial,
	})
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("registry"), "Invalid registry configuration", err.Error())
		return
	}
	dbOpts, maxAge, cacheDir, diags := vulnDBOptions(ctx, cfg.VulnerabilityDB, client)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	var backend scan.Backend = scan.NewLocal(vulndb.NewManager(dbOpts), cacheDir)
	if len(cfg.ScannerServer) > 0 {
		srv, diags := scannerServer(ctx, cfg.ScannerServer[0], maxAge, cacheDir, p.dial)
		resp.Diagnostics.Append(diags...)
		if resp.Diagnostics.HasError() {
			return
		}
		backend = srv
	}
	scanner := scan.New(client, backend, cacheDir)
	scanner.UseJavaDB(scan.NewJavaDB(vulndb.NewJavaManager(dbOpts.Java())))
	exploits, diags := exploitDataManager(ctx, cfg.ExploitData, client, cacheDir, "terraform-provider-imageguard/"+p.version)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	tflog.Debug(ctx, "imageguard configured", map[string]any{"registries": len(regs), "timeout": timeout.String(), "cache_dir": cacheDir})

	data := &providerData{Registry: client, Timeout: timeout, Version: p.version, Scanner: scanner, DBMaxAge: maxAge, CacheDir: cacheDir, Exploits: exploits, now: p.now}
	resp.DataSourceData = data
	resp.ResourceData = data
	resp.ActionData = data
}

func (p *imageguardProvider) DataSources(_ context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		newImageDataSource,
		newScanDataSource,
		newVerifyDataSource,
		newPolicyDataSource,
		newTagsDataSource,
	}
}

func (p *imageguardProvider) Resources(_ context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		newPinResource,
		newAttestationResource,
	}
}

// vulnDBOptions converts the `vulnerability_db` block.
func vulnDBOptions(ctx context.Context, blocks []vulnDBModel, client *registry.Client) (vulndb.Options, time.Duration, string, diag.Diagnostics) {
	var diags diag.Diagnostics
	var m vulnDBModel
	if len(blocks) > 0 {
		m = blocks[0]
	}
	at := path.Root("vulnerability_db").AtListIndex(0)
	maxAge := defaultDBMaxAge
	if s := m.MaxAge.ValueString(); s != "" {
		maxAge, _ = policy.ParseDuration(s)
	}
	cacheDir := m.CacheDir.ValueString()
	if cacheDir == "" {
		cacheDir = os.Getenv("IMAGEGUARD_CACHE_DIR")
	}
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			diags.AddAttributeError(at.AtName("cache_dir"), "No cache directory",
				fmt.Sprintf("There is no user cache directory (%v). Set `cache_dir` or IMAGEGUARD_CACHE_DIR.", err))
			return vulndb.Options{}, 0, "", diags
		}
		cacheDir = filepath.Join(base, "imageguard")
	}
	if abs, err := filepath.Abs(cacheDir); err == nil {
		cacheDir = abs
	}
	// Cached reports and the database decide verdicts: only a directory of
	// this user's that nobody else can write is used.
	if err := scan.PrepareCacheDir(cacheDir); err != nil {
		diags.AddAttributeError(at.AtName("cache_dir"), "Untrusted cache directory", capitalize(err.Error())+".")
		return vulndb.Options{}, 0, "", diags
	}
	var repos, javaRepos []string
	if !m.Repositories.IsNull() && !m.Repositories.IsUnknown() {
		diags.Append(m.Repositories.ElementsAs(ctx, &repos, false)...)
	}
	if !m.JavaRepositories.IsNull() && !m.JavaRepositories.IsUnknown() {
		diags.Append(m.JavaRepositories.ElementsAs(ctx, &javaRepos, false)...)
	}
	opts := vulndb.Options{
		Repositories:  repos,
		CacheDir:      cacheDir,
		MaxAge:        maxAge,
		SkipUpdate:    m.SkipUpdate.ValueBool(),
		RemoteOptions: client.RemoteOptions(),
		Insecure:      client.IsInsecure,
	}
	// The Java DB (for JAR files) is fetched only when an image holds a JAR,
	// under the same rules, credentials and transport (scan.NewJavaDB).
	opts.JavaRepositories = javaRepos
	return opts, maxAge, cacheDir, diags
}

// scannerServer converts the `scanner_server` block.
func scannerServer(ctx context.Context, m serverModel, maxAge time.Duration, cacheDir string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*scan.Server, diag.Diagnostics) {
	var diags diag.Diagnostics
	at := path.Root("scanner_server").AtListIndex(0)
	if m.URL.IsUnknown() || m.Token.IsUnknown() || m.CustomHeaders.IsUnknown() || m.FleetCacheKey.IsUnknown() {
		diags.AddAttributeError(at, "Scanner server settings not known at plan", "The `scanner_server` block depends on values known only after apply; imageguard scans during plan, so they must be known then.")
		return nil, diags
	}
	headers := map[string]string{}
	if !m.CustomHeaders.IsNull() {
		diags.Append(m.CustomHeaders.ElementsAs(ctx, &headers, false)...)
	}
	srv, err := scan.NewServer(scan.ServerOptions{
		URL: m.URL.ValueString(), Token: m.Token.ValueString(), TokenHeader: m.TokenHeader.ValueString(), CustomHeaders: headers,
		CACertPEM: m.CACertPEM.ValueString(), Insecure: m.Insecure.ValueBool(), MaxAge: maxAge, DialContext: dial,
		FleetCacheKey: m.FleetCacheKey.ValueString(), CacheDir: cacheDir,
	})
	if err != nil {
		attr := "url"
		var fk *scan.FleetCacheKeyError
		if errors.As(err, &fk) {
			attr = "fleet_cache_key"
		}
		diags.AddAttributeError(at.AtName(attr), "Invalid scanner_server", capitalize(err.Error())+".")
		return nil, diags
	}
	return srv, diags
}

// serverURLValidator rejects a scanner_server URL with credentials in it
// at validation, without echoing them.
type serverURLValidator struct{}

func (serverURLValidator) Description(context.Context) string {
	return "an http(s) URL without user:password"
}

func (v serverURLValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (serverURLValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := scan.CheckServerURL(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid scanner_server", capitalize(err.Error())+".")
	}
}

// capitalize starts a message from a lower layer as a sentence.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// defaultDBMaxAge is the oldest database accepted by default.
const defaultDBMaxAge = 72 * time.Hour

// configuredData extracts the provider's data in a data source's Configure.
// dataSourceConfig is embedded by every data source, resourceConfig by
// every resource: Configure keeps the provider's data (nil while Terraform
// validates before configuring the provider).
type dataSourceConfig struct{ data *providerData }

func (c *dataSourceConfig) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	c.data = keepProviderData(req.ProviderData, &resp.Diagnostics)
}

type resourceConfig struct{ data *providerData }

func (c *resourceConfig) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	c.data = keepProviderData(req.ProviderData, &resp.Diagnostics)
}

func keepProviderData(raw any, diags *diag.Diagnostics) *providerData {
	data, err := configuredData(raw)
	if err != nil {
		diags.AddError("Provider misconfigured", err.Error())
	}
	return data
}

func configuredData(raw any) (*providerData, error) {
	if raw == nil {
		return nil, nil // provider not configured yet (validation)
	}
	d, ok := raw.(*providerData)
	if !ok {
		return nil, fmt.Errorf("unexpected provider data %T; this is a bug in imageguard", raw)
	}
	return d, nil
}

// logSubsystems are the layers that log: with TF_LOG=debug (or
// TF_LOG_PROVIDER) a plan shows every registry request, the database
// decision, each platform scanned or served from cache, each authority
// tried and each rule evaluation.
var logSubsystems = []string{registry.LogSubsystem, vulndb.LogSubsystem, scan.LogSubsystem, gate.VerifyLogSubsystem, gate.PolicyLogSubsystem, gate.AttestLogSubsystem, exploit.LogSubsystem}

// exploitDataManager converts the `exploit_data` block: nil without one.
func exploitDataManager(ctx context.Context, blocks []exploitDataModel, client *registry.Client, cacheDir, userAgent string) (*exploit.Manager, diag.Diagnostics) {
	var diags diag.Diagnostics
	if len(blocks) == 0 {
		return nil, diags
	}
	m := blocks[0]
	at := path.Root("exploit_data").AtListIndex(0)
	if m.KEVSources.IsUnknown() || m.EPSSSources.IsUnknown() || m.MaxAge.IsUnknown() {
		diags.AddAttributeError(at, "Exploit data settings not known at plan", "The `exploit_data` block depends on values known only after apply; imageguard judges during plan, so they must be known then.")
		return nil, diags
	}
	opts := exploit.Options{CacheDir: cacheDir, RemoteOptions: client.RemoteOptions(), Transport: client.Transport(), Keychain: client.Keychain(), Insecure: client.IsInsecure, UserAgent: userAgent}
	opts.KEVSources = stringsOf(ctx, m.KEVSources, &diags)
	opts.EPSSSources = stringsOf(ctx, m.EPSSSources, &diags)
	if len(opts.KEVSources) == 0 && len(opts.EPSSSources) == 0 {
		diags.AddAttributeError(at, "No exploit data sources", "The `exploit_data` block names no source: give `kev_sources` and/or `epss_sources`, or remove the block.")
	}
	if s := m.MaxAge.ValueString(); s != "" {
		opts.MaxAge, _ = policy.ParseDuration(s)
	}
	if diags.HasError() {
		return nil, diags
	}
	return exploit.New(opts), diags
}
