package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-log/tflog"
)

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
