package acctest

import (
	"context"
	"net/http"
	"sync"

	"github.com/aquasecurity/trivy/pkg/cache"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	trivyserver "github.com/aquasecurity/trivy/pkg/rpc/server"
)

// TrivyLayerCache is the layer cache of Trivy servers; replicas built with
// the same one share it, as replicas behind one URL share Redis.
type TrivyLayerCache = cache.Cache

// NewTrivyLayerCache is an in-memory layer cache for TrivyServerHandler.
func NewTrivyLayerCache() TrivyLayerCache { return cache.NewMemoryCache() }

// TrivyServerHandler is Trivy's own server (the `trivy server` of v0.74.0)
// over the database in cacheDir/db, requiring token in the Trivy-Token
// header. It stops when ctx ends. Tests use it so that the provider's
// acceptance tests import no Trivy package.
func TrivyServerHandler(ctx context.Context, cacheDir, token string, layers TrivyLayerCache) http.Handler {
	srv := trivyserver.NewServer("0.74.0", "", cacheDir, token, "Trivy-Token", "", nil, ftypes.RegistryOptions{})
	var dbWg, reqWg sync.WaitGroup
	return srv.NewServeMux(ctx, layers, &dbWg, &reqWg)
}
