package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

type attestationResource struct {
	resourceConfig
}

func newAttestationResource() resource.Resource { return &attestationResource{} }

// now is the provider's clock (WithClock): tests sign "200 hours ago" to
// see renew_after.
func (r *attestationResource) now() time.Time { return r.data.now() }

var (
	_ resource.ResourceWithModifyPlan       = (*attestationResource)(nil)
	_ resource.ResourceWithImportState      = (*attestationResource)(nil)
	_ resource.ResourceWithValidateConfig   = (*attestationResource)(nil)
	_ resource.ResourceWithConfigValidators = (*attestationResource)(nil)
)

type attestationResourceModel struct {
	ID                 types.String         `tfsdk:"id"`
	Image              types.String         `tfsdk:"image"`
	Platforms          types.List           `tfsdk:"platforms"`
	Scan               *scanRulesModel      `tfsdk:"scan"`
	Verify             *policyVerifyModel   `tfsdk:"verify"`
	Policy             *imageRulesModel     `tfsdk:"policy"`
	Key                *signingKeyModel     `tfsdk:"key"`
	KMS                *signingKMSModel     `tfsdk:"kms"`
	Keyless            *signingKeylessModel `tfsdk:"keyless"`
	TLogUpload         types.Bool           `tfsdk:"tlog_upload"`
	RekorURL           types.String         `tfsdk:"rekor_url"`
	RenewAfter         types.String         `tfsdk:"renew_after"`
	DeleteOnDestroy    types.Bool           `tfsdk:"delete_on_destroy"`
	Digest             types.String         `tfsdk:"digest"`
	AttestationDigests types.List           `tfsdk:"attestation_digests"`
	PredicateTypes     types.List           `tfsdk:"predicate_types"`
	Location           types.String         `tfsdk:"location"`
	SignedAt           types.String         `tfsdk:"signed_at"`
	Verdict            types.Object         `tfsdk:"verdict"`
}

// signingKeyModel is the `key` block. The `_wo` attributes are
// write-only: null in plan and state, read from the configuration
// (withWriteOnly) where a secret is needed.
type signingKeyModel struct {
	PrivateKeyPEM          types.String `tfsdk:"private_key_pem"`
	PrivateKeyPEMWO        types.String `tfsdk:"private_key_pem_wo"`
	PrivateKeyPEMWOVersion types.Int64  `tfsdk:"private_key_pem_wo_version"`
	PrivateKeyEnv          types.String `tfsdk:"private_key_env"`
	Password               types.String `tfsdk:"password"`
	PasswordWO             types.String `tfsdk:"password_wo"`
	PasswordWOVersion      types.Int64  `tfsdk:"password_wo_version"`
}

type signingKMSModel struct {
	URI types.String `tfsdk:"uri"`
}

type signingKeylessModel struct {
	FulcioURL          types.String `tfsdk:"fulcio_url"`
	OIDCToken          types.String `tfsdk:"oidc_token"`
	OIDCTokenWO        types.String `tfsdk:"oidc_token_wo"`
	OIDCTokenWOVersion types.Int64  `tfsdk:"oidc_token_wo_version"`
	OIDCTokenEnv       types.String `tfsdk:"oidc_token_env"`
}

// withWriteOnly is a copy of m (the plan) with the write-only secrets of
// the configuration, for judging the settings and for signing. The copy is
// never set as plan or state: write-only values must stay out of both.
func withWriteOnly(ctx context.Context, config tfsdk.Config, m *attestationResourceModel) (*attestationResourceModel, diag.Diagnostics) {
	out := *m
	var key *signingKeyModel
	var keyless *signingKeylessModel
	diags := config.GetAttribute(ctx, path.Root("key"), &key)
	diags.Append(config.GetAttribute(ctx, path.Root("keyless"), &keyless)...)
	if diags.HasError() {
		return nil, diags
	}
	if m.Key != nil && key != nil {
		k := *m.Key
		k.PrivateKeyPEMWO, k.PasswordWO = key.PrivateKeyPEMWO, key.PasswordWO
		out.Key = &k
	}
	if m.Keyless != nil && keyless != nil {
		k := *m.Keyless
		k.OIDCTokenWO = keyless.OIDCTokenWO
		out.Keyless = &k
	}
	return &out, diags
}

func (r *attestationResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_attestation"
}

// attestationSettings are the resource's inputs as plain values.
type attestationSettings struct {
	Gates      pinSettings
	RenewAfter time.Duration
	TLogUpload bool
	RekorURL   string
}

func readAttestationSettings(ctx context.Context, m *attestationResourceModel) (attestationSettings, diag.Diagnostics) {
	pm := pinModel{Ref: m.Image, Platforms: m.Platforms, OnTagMove: types.StringNull(), Scan: m.Scan, Verify: m.Verify, Policy: m.Policy}
	gates, diags := readPinSettings(ctx, &pm)
	gates.Scan.Reports = true // the vulnerability predicate is Trivy's report
	s := attestationSettings{Gates: gates, TLogUpload: m.TLogUpload.IsNull() || m.TLogUpload.ValueBool(), RekorURL: m.RekorURL.ValueString()}
	if ra := m.RenewAfter.ValueString(); ra != "" {
		d, err := policy.ParseDuration(ra)
		if err != nil {
			diags.AddAttributeError(path.Root("renew_after"), "Invalid renew_after", err.Error())
		}
		s.RenewAfter = d
	}
	// Two forms beside private_key_pem_wo are the ConfigValidators' to report.
	if k := m.Key; k != nil && !k.PrivateKeyPEM.IsUnknown() && !k.PrivateKeyPEMWO.IsUnknown() && !k.PrivateKeyEnv.IsUnknown() &&
		(k.PrivateKeyPEM.IsNull() && k.PrivateKeyPEMWO.IsNull() && k.PrivateKeyEnv.IsNull() || !k.PrivateKeyPEM.IsNull() && !k.PrivateKeyEnv.IsNull()) {
		diags.AddAttributeError(path.Root("key"), "Key needs private_key_pem, private_key_pem_wo or private_key_env",
			"Give exactly one of `private_key_pem_wo` (write-only, Terraform and OpenTofu 1.11 and later), `private_key_env` and `private_key_pem` in the `key` block.")
	}
	if k := m.KMS; k != nil && k.URI.IsNull() {
		diags.AddAttributeError(path.Root("kms").AtName("uri"), "KMS needs a uri", "Give the KMS key as `uri`, e.g. `hashivault://release`.")
	}
	if k := m.Keyless; k != nil {
		if !k.OIDCToken.IsUnknown() && !k.OIDCTokenWO.IsUnknown() && !k.OIDCTokenEnv.IsUnknown() &&
			(k.OIDCToken.IsNull() && k.OIDCTokenWO.IsNull() && k.OIDCTokenEnv.IsNull() || !k.OIDCToken.IsNull() && !k.OIDCTokenEnv.IsNull()) {
			diags.AddAttributeError(path.Root("keyless"), "Keyless needs an OIDC token",
				"Give exactly one of `oidc_token_wo` (write-only, Terraform and OpenTofu 1.11 and later), `oidc_token_env` and `oidc_token` in the `keyless` block.")
		}
		if !s.TLogUpload {
			diags.AddAttributeError(path.Root("tlog_upload"), "Keyless signing needs the transparency log",
				"A keyless signature is made with a certificate valid for minutes; only its Rekor entry proves it was made then. Keep `tlog_upload = true` with `keyless`, or sign with `key` or `kms`.")
		}
	}
	return s, diags
}

func (r *attestationResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	validateSettings(ctx, req.Config, &resp.Diagnostics, readAttestationSettings)
}

// pendingVerdict is a judgement the apply-time plan made, for Create or
// Update in the same provider process to sign.
type pendingVerdict struct {
	j                 *gate.Judgement
	started, finished time.Time
}

// pendingKey names a planned change in providerData.verdicts: the subject
// and the plan, so that an apply signs only what its own plan judged.
func pendingKey(target string, plan fmt.Stringer) string {
	sum := sha256.Sum256([]byte(plan.String()))
	return target + "|" + hex.EncodeToString(sum[:])
}

// ModifyPlan judges at plan time. A new attestation (create, renewal, or
// settings that change the verdict) is judged as one to be signed; an
// attestation kept is judged again, and a digest that now fails its gates
// fails the plan, naming when it was attested.
func (r *attestationResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	ctx = withLogging(ctx)
	planned, state, ok := plannedChange[attestationResourceModel](ctx, req, r.data != nil, &resp.Diagnostics)
	if !ok || planned.Image.IsUnknown() {
		return
	}
	plan := *planned
	secrets, diags := withWriteOnly(ctx, req.Config, &plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	settings, diags := readAttestationSettings(ctx, secrets)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.data.Timeout)
	defer cancel()
	now := r.now().UTC()
	image := plan.Image.ValueString()
	resolved, diags := resolveRef(ctx, r.data, image, path.Root("image"))
	resp.Diagnostics.Append(diags...)
	if diags.HasError() {
		return
	}
	if !resolved.Ref.HasDigest() {
		resp.Diagnostics.AddAttributeError(path.Root("image"), "Image is not pinned to a digest",
			fmt.Sprintf("%q names a tag, which can move: give a digest-pinned reference, typically a gate's `pinned` output.", image))
		return
	}
	sign, why := r.needsSigning(ctx, req, state, &plan, settings, now)
	var kept *keptApproval
	failing := "cannot be attested"
	if !sign {
		kept = &keptApproval{verb: "attested", noun: "attestation", at: state.SignedAt.ValueString(), db: verdictDB(state.Verdict)}
		failing = fmt.Sprintf("was attested %s but now fails", state.SignedAt.ValueString())
	}
	if !sign && importedRecord(state) && !r.checkAdopted(ctx, state, secrets, settings, &resp.Diagnostics) {
		return
	}
	j, ok := judgeTarget(ctx, r.data, &resp.Diagnostics, path.Root("image"), "attestation's", image, resolved, settings.Gates, now, failing, kept)
	if !ok {
		return
	}
	finished := r.now().UTC()
	// The subject is what was judged: the image, or the one platform
	// manifest `platforms` selected of an index (never an index only partly
	// judged: judgeTarget refuses that).
	plan.ID = types.StringValue(j.Pinned.String())
	plan.Digest = types.StringValue(j.Pinned.DigestStr())
	if sign {
		tflog.Debug(ctx, "attestation planned", map[string]any{"image": j.Pinned.String(), "why": why})
		plan.AttestationDigests = types.ListUnknown(types.StringType)
		plan.PredicateTypes = stringList(ctx, []string{gate.VulnPredicateType, gate.VerdictPredicateType}, &resp.Diagnostics)
		plan.Location, plan.SignedAt = types.StringUnknown(), types.StringUnknown()
		plan.Verdict = types.ObjectUnknown(verdictAttrTypes)
		r.warnMissingSecrets(&resp.Diagnostics, &plan)
		if k := secrets.Key; k != nil && keyPEMKnown(k) && !k.Password.IsUnknown() && !k.PasswordWO.IsUnknown() {
			if err := gate.CheckKey(ctx, []byte(keyPEM(k)), keyPassword(k)); err != nil {
				addGateError(&resp.Diagnostics, err, path.Root("image"), nil)
				return
			}
		}
	} else {
		plan.AttestationDigests, plan.PredicateTypes, plan.Location = state.AttestationDigests, state.PredicateTypes, state.Location
		plan.SignedAt, plan.Verdict = state.SignedAt, state.Verdict
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	if sign && !resp.Diagnostics.HasError() {
		r.data.verdicts.put(pendingKey(j.Pinned.String(), resp.Plan.Raw), pendingVerdict{j: j, started: now, finished: finished})
	}
}

// needsSigning decides whether the plan signs a new attestation, and why.
func (r *attestationResource) needsSigning(ctx context.Context, req resource.ModifyPlanRequest, state, plan *attestationResourceModel, s attestationSettings, now time.Time) (bool, string) {
	in := gate.AttestationInput{RenewAfter: s.RenewAfter, Now: now, Keyless: plan.Keyless != nil}
	if state != nil {
		p := &gate.AttestationPrior{Imported: importedRecord(state),
			Recorded: !state.SignedAt.IsNull() && !state.SignedAt.IsUnknown() && len(state.AttestationDigests.Elements()) > 0}
		p.SignedAt, _ = time.Parse(time.RFC3339, state.SignedAt.ValueString())
		in.Prior = p
		in.Changed = changedSettings(ctx, req)
		in.SignerKindChanged = (state.Key == nil) != (plan.Key == nil) || (state.Keyless == nil) != (plan.Keyless == nil)
	}
	d := gate.DecideAttestation(in)
	return d.Sign, d.Why
}

// signingSettings are the attributes whose change makes a new attestation
// (gate.AttestationInput.Changed): a write-only secret is never in state,
// so its version stands for it.
var signingSettings = []path.Path{
	path.Root("platforms"), path.Root("scan"), path.Root("verify"), path.Root("policy"), path.Root("kms"), path.Root("tlog_upload"), path.Root("rekor_url"),
	path.Root("key").AtName("private_key_pem"), path.Root("key").AtName("private_key_env"), path.Root("keyless").AtName("fulcio_url"),
	path.Root("key").AtName("private_key_pem_wo_version"), path.Root("key").AtName("password_wo_version"), path.Root("keyless").AtName("oidc_token_wo_version"),
}

// changedSettings are the signing settings that differ between state and
// plan; one that cannot be read counts as changed.
func changedSettings(ctx context.Context, req resource.ModifyPlanRequest) []string {
	var changed []string
	for _, p := range signingSettings {
		var before, after attr.Value
		ds := req.State.GetAttribute(ctx, p, &before)
		dp := req.Plan.GetAttribute(ctx, p, &after)
		if ds.HasError() || dp.HasError() || !before.Equal(after) {
			changed = append(changed, p.String())
		}
	}
	return changed
}

// importedRecord reports whether state came from an import: no settings.
func importedRecord(state *attestationResourceModel) bool {
	return state.Scan == nil && state.Verify == nil && state.Policy == nil && state.Key == nil && state.KMS == nil && state.Keyless == nil
}

// checkAdopted verifies that the attestations an import found were signed
// by the configured key before the plan adopts them.
func (r *attestationResource) checkAdopted(ctx context.Context, state, secrets *attestationResourceModel, s attestationSettings, diags *diag.Diagnostics) bool {
	ref, err := r.data.Registry.ParseReference(state.Image.ValueString())
	subject, herr := v1.NewHash(state.Digest.ValueString())
	if err != nil || herr != nil {
		diags.AddAttributeError(path.Root("image"), "Invalid state", fmt.Sprintf("The imported image %q or digest %q does not parse; remove the resource from state and import it again.", state.Image.ValueString(), state.Digest.ValueString()))
		return false
	}
	var digests, pts []string
	diags.Append(state.AttestationDigests.ElementsAs(ctx, &digests, false)...)
	diags.Append(state.PredicateTypes.ElementsAs(ctx, &pts, false)...)
	if diags.HasError() || len(digests) != len(pts) {
		diags.AddAttributeError(path.Root("image"), "Invalid state", "The imported attestations and their predicate types do not pair up; remove the resource from state and import it again.")
		return false
	}
	found := make([]gate.Attached, len(digests))
	for i := range digests {
		h, err := v1.NewHash(digests[i])
		if err != nil {
			diags.AddAttributeError(path.Root("image"), "Invalid state", fmt.Sprintf("The imported attestation digest %q does not parse.", digests[i]))
			return false
		}
		found[i] = gate.Attached{Digest: h, PredicateType: pts[i], Location: state.Location.ValueString()}
	}
	signer, d := signerOptions(secrets, s)
	diags.Append(d...)
	if diags.HasError() {
		return false
	}
	if err := gate.CheckAdopted(ctx, gate.AttestationStore(r.data.Registry, ref.Repository), subject, found, signer); err != nil {
		addGateError(diags, err, path.Root("image"), nil)
		return false
	}
	return true
}

// Create signs what the plan judged and attaches it.
func (r *attestationResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx = withLogging(ctx)
	var plan attestationResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.publish(ctx, &plan, req.Config, pendingKey(plan.ID.ValueString(), req.Plan.Raw), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Update signs a new attestation when the plan said so (renewal, settings
// changed); otherwise it records the new settings. Earlier attestations
// stay in the registry; verifiers take the newest.
func (r *attestationResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx = withLogging(ctx)
	var plan attestationResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.SignedAt.IsUnknown() {
		r.publish(ctx, &plan, req.Config, pendingKey(plan.ID.ValueString(), req.Plan.Raw), &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// publish signs and attaches the verdict the apply-time plan judged (or,
// if this process did not plan it, judges it again first: nothing is
// signed that was not judged), and fills in the computed attributes.
func (r *attestationResource) publish(ctx context.Context, m *attestationResourceModel, config tfsdk.Config, key string, diags *diag.Diagnostics) {
	secrets, d := withWriteOnly(ctx, config, m)
	diags.Append(d...)
	if diags.HasError() {
		return
	}
	settings, d := readAttestationSettings(ctx, secrets)
	diags.Append(d...)
	if diags.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.data.Timeout)
	defer cancel()
	target := m.ID.ValueString()
	image := m.Image.ValueString()
	pv, _ := r.data.verdicts.take(key)
	if pv.j == nil {
		tflog.Debug(ctx, "no judgement from this process's plan; judging again before signing", map[string]any{"image": target})
		pv.started = r.now().UTC()
		resolved, d := resolveRef(ctx, r.data, image, path.Root("image"))
		diags.Append(d...)
		if diags.HasError() {
			return
		}
		j, ok := judgeTarget(ctx, r.data, diags, path.Root("image"), "attestation's", image, resolved, settings.Gates, pv.started, "cannot be attested", nil)
		if !ok {
			return
		}
		if j.Pinned.String() != target {
			diags.AddAttributeError(path.Root("image"), "Judged another digest than planned",
				fmt.Sprintf("The plan judged %s, this apply %s; nothing was signed. Plan again.", target, j.Pinned.String()))
			return
		}
		pv.j, pv.finished = j, r.now().UTC()
	}
	// The subject is what was judged: the image, or the platform manifest
	// `platforms` selected of an index.
	subject := pv.j.Target.Resolved
	if subject.Pinned().String() != pv.j.Pinned.String() {
		subject, d = resolveRef(ctx, r.data, target, path.Root("image"))
		diags.Append(d...)
		if diags.HasError() {
			return
		}
	}
	signer, d := signerOptions(secrets, settings)
	diags.Append(d...)
	if diags.HasError() {
		return
	}
	signedAt := r.now().UTC().Truncate(time.Second)
	out, err := gate.Attest(ctx, gate.AttestInput{
		Resolved: subject, Signer: signer, SignedAt: signedAt, Options: r.data.Registry.RemoteOptions(),
		Vuln: pv.j.VulnInput(pv.started, pv.finished), Verdict: pv.j.Verdict(pv.started, pv.finished, r.data.Version),
	})
	if err != nil {
		addGateError(diags, err, path.Root("image"), nil)
		return
	}
	var digests, typesOut []string
	for _, a := range out.Attached {
		digests = append(digests, a.Digest.String())
		typesOut = append(typesOut, a.PredicateType)
	}
	m.AttestationDigests, m.PredicateTypes = stringList(ctx, digests, diags), stringList(ctx, typesOut, diags)
	m.Location = types.StringValue(out.Attached[0].Location)
	m.SignedAt = types.StringValue(signedAt.Format(time.RFC3339))
	m.Verdict = verdictSummary(pv, diags)
	tflog.Info(ctx, "attestations published", map[string]any{"image": target, "referrers": digests, "location": m.Location.ValueString(), "key_id": out.KeyID, "identity": out.Identity})
}

// Read notices attestations deleted from the registry: the next plan then
// makes new ones. An imported record learns its attestations here. A
// registry that cannot be reached leaves the state as it was.
func (r *attestationResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx = withLogging(ctx)
	var state attestationResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || r.data == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.data.Timeout)
	defer cancel()
	ref, err := r.data.Registry.ParseReference(state.Image.ValueString())
	subject, herr := v1.NewHash(state.Digest.ValueString())
	if err != nil || herr != nil {
		resp.Diagnostics.AddAttributeError(path.Root("image"), "Invalid state", fmt.Sprintf("The recorded image %q or digest %q does not parse; remove the resource from state and import it again.", state.Image.ValueString(), state.Digest.ValueString()))
		return
	}
	store := gate.AttestationStore(r.data.Registry, ref.Repository)
	var recorded []string
	resp.Diagnostics.Append(state.AttestationDigests.ElementsAs(ctx, &recorded, false)...)
	if len(recorded) == 0 {
		found, err := gate.FindAttestations(ctx, store, subject)
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("image"), "Cannot read the attestations", fmt.Sprintf("Looking for the attestations of %s: %v", state.ID.ValueString(), err))
			return
		}
		if len(found) == 0 {
			tflog.Warn(ctx, "no imageguard attestation found; the record is removed", map[string]any{"image": state.ID.ValueString()})
			resp.State.RemoveResource(ctx)
			return
		}
		var digests, pts []string
		for _, a := range found {
			digests, pts = append(digests, a.Digest.String()), append(pts, a.PredicateType)
		}
		state.AttestationDigests, state.PredicateTypes = stringList(ctx, digests, &resp.Diagnostics), stringList(ctx, pts, &resp.Diagnostics)
		state.Location, state.SignedAt = types.StringValue(found[0].Location), types.StringValue(found[0].Created.UTC().Format(time.RFC3339))
	} else {
		missing, err := gate.MissingAttestations(ctx, store, recorded)
		if err != nil {
			tflog.Warn(ctx, "refresh could not check the attestations; the record is kept", map[string]any{"image": state.ID.ValueString(), "error": err.Error()})
		} else if len(missing) > 0 {
			tflog.Warn(ctx, "attestations deleted from the registry; the next plan makes new ones", map[string]any{"image": state.ID.ValueString(), "missing": missing})
			resp.State.RemoveResource(ctx)
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Delete leaves the attestations in the registry for audit, unless
// delete_on_destroy is set.
func (r *attestationResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx = withLogging(ctx)
	var state attestationResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !state.DeleteOnDestroy.ValueBool() {
		tflog.Info(ctx, "attestations left in the registry (delete_on_destroy = false)", map[string]any{"image": state.ID.ValueString()})
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.data.Timeout)
	defer cancel()
	ref, err := r.data.Registry.ParseReference(state.Image.ValueString())
	subject, herr := v1.NewHash(state.Digest.ValueString())
	var recorded []string
	resp.Diagnostics.Append(state.AttestationDigests.ElementsAs(ctx, &recorded, false)...)
	var digests []v1.Hash
	for _, s := range recorded {
		if h, err := v1.NewHash(s); err == nil {
			digests = append(digests, h)
		}
	}
	if err != nil || herr != nil {
		resp.Diagnostics.AddAttributeError(path.Root("image"), "Invalid state", "The recorded image or digest does not parse; nothing was deleted.")
		return
	}
	if err := gate.DeleteAttestations(ctx, ref.Repository, subject, digests, r.data.Registry.RemoteOptions()); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("delete_on_destroy"), "Attestations not deleted",
			fmt.Sprintf("Deleting the attestations of %s failed: %v. Retry, or set delete_on_destroy = false (and apply) to leave them.", state.ID.ValueString(), err))
	}
}

// ImportState takes `registry/repository@sha256:<digest>`: Read finds the
// newest imageguard attestations of that digest; the next plan judges it.
func (r *attestationResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id := strings.TrimSpace(req.ID)
	at := strings.LastIndex(id, "@")
	if at <= 0 || !strings.HasPrefix(id[at+1:], "sha256:") {
		resp.Diagnostics.AddError("Invalid import id", fmt.Sprintf("Import an imageguard_attestation as `<ref>@sha256:<digest>`, e.g. `registry.example.com/team/api@sha256:…`; got %q.", id))
		return
	}
	parsed, err := r.data.Registry.ParseReference(id)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &attestationResourceModel{
		ID: types.StringValue(parsed.Pinned(parsed.Digest).String()), Image: types.StringValue(id), Platforms: types.ListNull(types.StringType),
		TLogUpload: types.BoolValue(true), RekorURL: types.StringNull(), RenewAfter: types.StringNull(), DeleteOnDestroy: types.BoolValue(false),
		Digest: types.StringValue(parsed.Digest.String()), AttestationDigests: types.ListNull(types.StringType), PredicateTypes: types.ListNull(types.StringType),
		Location: types.StringNull(), SignedAt: types.StringNull(), Verdict: types.ObjectNull(verdictAttrTypes),
	})...)
}
