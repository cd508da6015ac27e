package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// PlanRecords remembers, per pending change of an imageguard_pin that has
// no refreshed observation in its state (a create, or a pin that now follows
// another tag), which digest the plan chose. Terraform repeats the plan when
// it applies a saved plan, in a new provider process; the record lets that
// repeat choose the same digest although the tag may have moved in between.
// A record only ever picks which digest of the same repository is judged:
// the gates still run on it, so a planted record cannot pass an image.
type PlanRecords struct {
	Dir string // "" disables the records
}

type planRecordFile struct {
	Key       string    `json:"key"`
	Digest    string    `json:"digest"`
	PlannedAt time.Time `json:"planned_at"`
}

// PlanRecordKey identifies a pending change: the followed reference and
// what the state held before it.
func PlanRecordKey(ref, priorRef, priorDigest string) string {
	sum := sha256.Sum256([]byte(ref + "\x00" + priorRef + "\x00" + priorDigest))
	return hex.EncodeToString(sum[:])
}

func (p PlanRecords) path(key string) string { return filepath.Join(p.Dir, "plans", key+".json") }

// Load returns the record for key, or nil when there is none or it cannot
// be trusted (not a regular file, unreadable, another key).
func (p PlanRecords) Load(key string) *PlannedRecord {
	if p.Dir == "" {
		return nil
	}
	// A link is refused before and while opening (O_NOFOLLOW where the OS
	// has it): a record must be a file imageguard wrote.
	if st, err := os.Lstat(p.path(key)); err != nil || st.Mode()&os.ModeSymlink != 0 {
		return nil
	}
	f, err := os.OpenFile(p.path(key), os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	var rec planRecordFile
	if err := json.NewDecoder(io.LimitReader(f, 4096)).Decode(&rec); err != nil || rec.Key != key {
		return nil
	}
	return &PlannedRecord{Digest: rec.Digest, PlannedAt: rec.PlannedAt}
}

// Save writes the record for key atomically.
func (p PlanRecords) Save(key string, r PlannedRecord) error {
	if p.Dir == "" {
		return nil
	}
	dir := filepath.Dir(p.path(key))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	body, err := json.Marshal(planRecordFile{Key: key, Digest: r.Digest, PlannedAt: r.PlannedAt.UTC()})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".plan-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(body)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), p.path(key))
}

// Delete drops the record once the change it belongs to is applied.
func (p PlanRecords) Delete(key string) {
	if p.Dir != "" {
		_ = os.Remove(p.path(key))
	}
}
