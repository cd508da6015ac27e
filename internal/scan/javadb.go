package scan

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/javadb"
	"github.com/aquasecurity/trivy/pkg/types"

	// Trivy's Java DB is SQLite; the trivy CLI links this driver in its main
	// package, so a library user must too, or every JAR fails to open it.
	_ "modernc.org/sqlite"

	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// JavaDB hands Trivy's JAR analyser the Java DB only after imageguard has
// checked it (vulndb.JavaManager: the registry client's credentials and
// transport, max_age, never from the future), and only when an image holds
// a JAR. Trivy's JAR analyser reads the Java DB through a process-global
// updater that would download it on its own terms; until prepared, that
// updater points at a path that can never hold a database, so an analysis
// that needs the Java DB fails, the scanner prepares it and analyses again.
type JavaDB struct {
	mgr *vulndb.JavaManager
	db  *vulndb.JavaDB // checked; guarded by javaMu
	err error
}

// Trivy's updater is process-global; javaCurrent is the JavaDB it points
// at (nil: blocked). Several provider configurations in one process (tests)
// each point it at their own database before scanning.
var (
	javaMu      sync.Mutex
	javaCurrent *JavaDB
)

// javaDBRequired is how Trivy's JAR analyser fails when it cannot get the
// Java DB (pkg/fanal/analyzer/language/java/jar).
const javaDBRequired = "Unable to initialize the Java DB"

// NewJavaDB blocks Trivy's own Java DB updater and returns the gate that
// opens it with mgr's database.
func NewJavaDB(mgr *vulndb.JavaManager) *JavaDB {
	// A NUL byte makes every file operation on the path fail (reading the
	// metadata, creating the directory), so Trivy neither downloads nor
	// creates an empty database there.
	javaMu.Lock()
	defer javaMu.Unlock()
	javadb.Init(filepath.Join(mgr.CacheDir(), "java-db-unchecked\x00"), nil, true, true, ftypes.RegistryOptions{})
	javaCurrent = nil
	return &JavaDB{mgr: mgr}
}

// needed reports whether a failed analysis failed for want of the Java DB
// while Trivy's updater was not pointing at j's database (when it was, the
// failure is Trivy's own).
func (j *JavaDB) needed(err error) bool {
	if j == nil || err == nil || !strings.Contains(err.Error(), javaDBRequired) {
		return false
	}
	javaMu.Lock()
	defer javaMu.Unlock()
	return javaCurrent != j
}

// prepare checks (downloading if need be) the Java DB once per process and
// points Trivy's updater at it, never letting Trivy update it.
func (j *JavaDB) prepare(ctx context.Context) (*vulndb.JavaDB, error) {
	javaMu.Lock()
	defer javaMu.Unlock()
	if j.db == nil {
		if j.err != nil {
			return nil, j.err
		}
		db, err := j.mgr.Ensure(ctx)
		if err != nil {
			if ctx.Err() == nil {
				j.err = err
			}
			return nil, err
		}
		j.db = db
	}
	if javaCurrent != j {
		// skip = true: Trivy reads this copy and never updates it.
		javadb.Init(j.db.CacheDir, nil, true, true, ftypes.RegistryOptions{})
		javaCurrent = j
	}
	return j.db, nil
}

// UseJavaDB makes the scanner give Trivy's JAR analyser the Java DB that j
// checks. Without it, Trivy's own updater (if initialised) is used.
func (s *Scanner) UseJavaDB(j *JavaDB) { s.java = j }

// javaScan runs scan; when it failed for want of the Java DB, it prepares
// the Java DB and runs it once more.
func (s *Scanner) javaScan(ctx context.Context, t Target, scan func() (types.Report, DBInfo, error)) (types.Report, DBInfo, error) {
	report, answered, err := scan()
	if !s.java.needed(err) {
		return report, answered, err
	}
	db, jerr := s.java.prepare(ctx)
	if jerr != nil {
		return report, answered, &JavaDBError{Ref: t.Resolved.Ref.Input, Digest: t.Platform.Digest.String(), Err: jerr}
	}
	report, answered, err = scan()
	answered.Warnings = append(append([]string(nil), answered.Warnings...), db.Warnings...)
	return report, answered, err
}

// JavaDBError says that an image holds JAR files and the Java DB is not
// usable (vulndb's error says why and what to do).
type JavaDBError struct {
	Ref, Digest string
	Err         error
}

func (e *JavaDBError) Error() string {
	return fmt.Sprintf("%s (%s) holds JAR files, which Trivy identifies with the Java DB, and no usable Java DB is available, so the image cannot be judged: %v", e.Ref, e.Digest, e.Err)
}

// Unwrap exposes vulndb's error (and its kind).
func (e *JavaDBError) Unwrap() error { return e.Err }
