package scan

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// A summary's findings and packages are cached packed: each distinct
// string once in a table, each row as indices into it. A base image's
// thousand findings repeat their package, versions, severity, status and
// target; reading them back is the whole cost of a warm plan per image, and
// the packed form decodes several times faster than one JSON object per
// row (no string decoded twice, rows allocated once at their final size).

// packedFindings are findings, packed in JSON.
type packedFindings []Finding

// packedPackages are packages, packed in JSON.
type packedPackages []Package

// packed is the JSON form: S the strings, R the rows' indices into S as
// unsigned varints (base64 in JSON: decoded far faster than a JSON array
// of numbers), W the number of fields of a row.
type packed struct {
	S []string `json:"s"`
	R []byte   `json:"r"`
	W int      `json:"w"`

	rows []uint32
}

type stringTable struct {
	strings []string
	index   map[string]uint32
}

func (t *stringTable) add(s string) uint32 {
	if i, ok := t.index[s]; ok {
		return i
	}
	i := uint32(len(t.strings))
	t.strings = append(t.strings, s)
	t.index[s] = i
	return i
}

func pack(rows int, width int, fields func(i int, out []string)) ([]byte, error) {
	t := &stringTable{index: map[string]uint32{}}
	p := packed{R: make([]byte, 0, rows*width*2), W: width}
	row := make([]string, width)
	for i := 0; i < rows; i++ {
		fields(i, row)
		for _, s := range row {
			p.R = binary.AppendUvarint(p.R, uint64(t.add(s)))
		}
	}
	p.S = t.strings
	return json.Marshal(p)
}

func unpack(b []byte, width int, what string) (*packed, error) {
	var p packed
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	if p.W != width {
		return nil, fmt.Errorf("packed %s: rows of %d fields, want %d", what, p.W, width)
	}
	p.rows = make([]uint32, 0, len(p.R))
	for b := p.R; len(b) > 0; {
		i, n := binary.Uvarint(b)
		if n <= 0 || i >= uint64(len(p.S)) {
			return nil, fmt.Errorf("packed %s: bad string index", what)
		}
		p.rows = append(p.rows, uint32(i))
		b = b[n:]
	}
	if len(p.rows)%width != 0 {
		return nil, fmt.Errorf("packed %s: %d indices for rows of %d", what, len(p.rows), width)
	}
	return &p, nil
}

const findingFields = 10

// MarshalJSON packs the findings.
func (f packedFindings) MarshalJSON() ([]byte, error) {
	return pack(len(f), findingFields, func(i int, out []string) {
		x := f[i]
		out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7], out[8], out[9] = x.ID, x.Severity, x.Package, x.InstalledVersion, x.FixedVersion, x.Status, x.Title, x.Target, x.Platform, x.PkgType
	})
}

// UnmarshalJSON unpacks the findings.
func (f *packedFindings) UnmarshalJSON(b []byte) error {
	p, err := unpack(b, findingFields, "findings")
	if err != nil {
		return err
	}
	out := make([]Finding, len(p.rows)/findingFields)
	for i := range out {
		r := p.rows[i*findingFields:]
		out[i] = Finding{ID: p.S[r[0]], Severity: p.S[r[1]], Package: p.S[r[2]], InstalledVersion: p.S[r[3]], FixedVersion: p.S[r[4]],
			Status: p.S[r[5]], Title: p.S[r[6]], Target: p.S[r[7]], Platform: p.S[r[8]], PkgType: p.S[r[9]]}
	}
	*f = out
	return nil
}

const packageFields = 4

// MarshalJSON packs the packages.
func (pk packedPackages) MarshalJSON() ([]byte, error) {
	return pack(len(pk), packageFields, func(i int, out []string) {
		x := pk[i]
		out[0], out[1], out[2], out[3] = x.Name, x.Version, x.Type, x.Target
	})
}

// UnmarshalJSON unpacks the packages.
func (pk *packedPackages) UnmarshalJSON(b []byte) error {
	p, err := unpack(b, packageFields, "packages")
	if err != nil {
		return err
	}
	out := make([]Package, len(p.rows)/packageFields)
	for i := range out {
		r := p.rows[i*packageFields:]
		out[i] = Package{Name: p.S[r[0]], Version: p.S[r[1]], Type: p.S[r[2]], Target: p.S[r[3]]}
	}
	*pk = out
	return nil
}
