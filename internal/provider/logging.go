package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/exploit"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// logSubsystems are the layers that log: with TF_LOG=debug (or
// TF_LOG_PROVIDER) a plan shows every registry request, the database
// decision, each platform scanned or served from cache, each authority
// tried and each rule evaluation.
var logSubsystems = []string{registry.LogSubsystem, vulndb.LogSubsystem, scan.LogSubsystem, gate.VerifyLogSubsystem, gate.PolicyLogSubsystem, gate.AttestLogSubsystem, exploit.LogSubsystem}

// secretFieldKeys are never logged by value, whichever layer adds them.
var secretFieldKeys = []string{"password", "token", "authorization", "private_key", "secret"}

// withLogging registers the subsystems on a request's context and masks
// secret fields everywhere.
func withLogging(ctx context.Context) context.Context {
	ctx = tflog.MaskFieldValuesWithFieldKeys(ctx, secretFieldKeys...)
	for _, s := range logSubsystems {
		ctx = tflog.NewSubsystem(ctx, s)
		ctx = tflog.SubsystemMaskFieldValuesWithFieldKeys(ctx, s, secretFieldKeys...)
	}
	return ctx
}
