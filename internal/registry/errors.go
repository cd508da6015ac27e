package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrorKind classifies a registry failure so the provider can choose the
// diagnostic's summary and the attribute it belongs to.
type ErrorKind int

const (
	// KindInternal is anything not classified below.
	KindInternal ErrorKind = iota
	// KindMalformed is a reference that does not parse.
	KindMalformed
	// KindNotFound is an unknown repository, tag or digest.
	KindNotFound
	// KindUnauthorized is a 401/403 from the registry.
	KindUnauthorized
	// KindUnreachable is a connection that could not be made or timed out.
	KindUnreachable
	// KindTLS is a certificate verification or handshake failure.
	KindTLS
	// KindPlainHTTP is plain HTTP refused to a registry that is neither
	// loopback nor listed as insecure.
	KindPlainHTTP
	// KindPlatform is a platform that the image does not provide.
	KindPlatform
	// KindServer is a 5xx or otherwise unexpected registry response.
	KindServer
	// KindIntegrity is content that does not match its digest or size: a
	// truncated blob or a substituted manifest.
	KindIntegrity
)

// Summary is a short, user-facing title for the kind.
func (k ErrorKind) Summary() string {
	switch k {
	case KindMalformed:
		return "Malformed image reference"
	case KindNotFound:
		return "Image not found"
	case KindUnauthorized:
		return "Registry denied access"
	case KindUnreachable:
		return "Registry unreachable"
	case KindTLS:
		return "Registry TLS verification failed"
	case KindPlainHTTP:
		return "Plain HTTP refused"
	case KindPlatform:
		return "Platform not in image"
	case KindServer:
		return "Registry error"
	case KindIntegrity:
		return "Registry sent unverifiable content"
	default:
		return "Registry request failed"
	}
}

// Error is a classified registry failure with a complete, user-facing
// message: what failed, for which image, and what to do. It never carries a
// credential.
type Error struct {
	Kind     ErrorKind
	Ref      string
	Registry string
	Message  string
	Err      error
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a registry error, or KindInternal.
func KindOf(err error) ErrorKind {
	var re *Error
	if errors.As(err, &re) {
		return re.Kind
	}
	return KindInternal
}

// plainHTTPError is returned by the transport when it refuses plain HTTP.
type plainHTTPError struct{ host string }

func (e *plainHTTPError) Error() string {
	return fmt.Sprintf("plain HTTP to %s refused: it is not a loopback registry and not listed as insecure", e.host)
}

// classify turns an error from go-containerregistry into an *Error with a
// message that names the image and says what to do.
func classify(ref, registry string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Ref: ref, Registry: registry, Err: err}

	var plain *plainHTTPError
	var status *statusError
	var integrity *integrityError
	var terr *transport.Error
	var unknownAuthority x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var verifyErr *tlsVerificationError
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError

	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind = KindUnreachable
		e.Message = fmt.Sprintf("Reading %s from registry %s timed out: the registry did not answer within the provider's `timeout`. Raise `timeout` in the provider block, or check the registry and the network path to it.", ref, registry)
	case errors.As(err, &status):
		e.Kind = KindServer
		if status.status == http.StatusTooManyRequests {
			e.Message = fmt.Sprintf("Registry %s is rate-limiting reads of %s: it %s. Try again later; give credentials for it in a `registry` block (anonymous pulls have lower limits), or pull through a mirror.", registry, ref, status.Error())
		} else {
			e.Message = fmt.Sprintf("Registry %s failed reading %s: it %s. Retried with backoff; try again later or check the registry.", registry, ref, status.Error())
		}
	case errors.As(err, &integrity), isIntegrityFailure(err):
		e.Kind = KindIntegrity
		e.Message = fmt.Sprintf("Registry %s sent content for %s that does not match its digest (%s). The registry, or a proxy or cache in between, truncated or substituted it; imageguard judges only content it has verified, so this cannot pass. "+
			"Check the registry and any caching proxy, then try again.", registry, ref, rootCause(err))
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected EOF"):
		e.Kind = KindIntegrity
		e.Message = fmt.Sprintf("Registry %s closed the connection before sending all of the content of %s (%s). Nothing partial is judged, so this cannot pass; try again, and check the registry and any proxy if it persists.", registry, ref, rootCause(err))
	case errors.As(err, &plain) && plain.host != registry:
		// The registry itself answered; a redirect named plain HTTP elsewhere.
		e.Kind = KindPlainHTTP
		e.Message = fmt.Sprintf("Cannot read %s: registry %s redirected the read of %s to plain HTTP on %s, which is refused: a redirect never downgrades to unencrypted traffic except to a loopback host. "+
			"Have the registry's storage served over HTTPS, or, if you accept unencrypted traffic to it, add `registry { address = %q, insecure = true }` to the provider block.", ref, registry, ref, plain.host, plain.host)
	case errors.Is(err, errRedirectLoop), strings.Contains(err.Error(), "stopped after 10 redirects"):
		e.Kind = KindServer
		e.Message = fmt.Sprintf("Registry %s redirected the read of %s in a loop (10 redirects without content). Nothing was read, so nothing can pass; check the registry and any proxy in front of it.", registry, ref)
	case strings.Contains(err.Error(), "SSRF protection: redirect"):
		// go-containerregistry refuses a redirect to another host at a
		// private, loopback or link-local address.
		e.Kind = KindServer
		e.Message = fmt.Sprintf("Registry %s redirected the read of %s to another host at a private, loopback or link-local address, which is refused: a registry must not steer its clients into their own network (%s). "+
			"Have the registry serve blobs itself or redirect to its storage's public name (distribution: `storage.redirect.disable: true`; Harbor: disable the registry's storage redirect).", registry, ref, rootCause(err))
	case errors.As(err, &plain), !errors.As(err, &terr) && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		e.Kind = KindPlainHTTP
		e.Message = fmt.Sprintf("Cannot read %s: the registry %s answered only over plain HTTP, which is allowed only for loopback registries (127.0.0.0/8, localhost, ::1). "+
			"Serve the registry over HTTPS (with `ca_cert_pem` in its `registry` block for a private CA), or, if you accept unencrypted traffic, add "+
			"`registry { address = %q, insecure = true }` to the provider block.", ref, registry, registry)
	case errors.As(err, &unknownAuthority), errors.As(err, &hostErr), errors.As(err, &certInvalid), errors.As(err, &verifyErr),
		strings.Contains(err.Error(), "x509:"), strings.Contains(err.Error(), "tls:"):
		e.Kind = KindTLS
		e.Message = fmt.Sprintf("Cannot read %s: TLS verification of registry %s failed (%s). "+
			"If the registry uses a private CA, set `ca_cert_pem` in a `registry { address = %q }` block of the provider; "+
			"`insecure = true` disables verification for that registry only.", ref, registry, rootCause(err), registry)
	case errors.As(err, &terr):
		switch {
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden || hasCode(terr, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			e.Kind = KindUnauthorized
			e.Message = fmt.Sprintf("Cannot read %s: registry %s answered %d %s. "+
				"Give credentials in a `registry { address = %q }` block of the provider (`username` and `password`, or `token`), "+
				"or through the docker config (`DOCKER_CONFIG` or ~/.docker/config.json, e.g. with `docker login %s`) and its credential helpers; "+
				"check that they grant pull access to this repository.",
				ref, registry, terr.StatusCode, http.StatusText(terr.StatusCode), registry, registry)
		case terr.StatusCode == http.StatusNotFound || hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode):
			e.Kind = KindNotFound
			e.Message = fmt.Sprintf("Image %s not found in registry %s (%s). Check the repository name and that the tag or digest has been pushed.", ref, registry, terr.Error())
		default:
			e.Kind = KindServer
			e.Message = fmt.Sprintf("Registry %s failed reading %s: %s. Retried with backoff; try again later or check the registry.", registry, ref, terr.Error())
		}
	case errors.As(err, &dnsErr), errors.As(err, &opErr), errors.As(err, &netErr):
		e.Kind = KindUnreachable
		e.Message = fmt.Sprintf("Cannot reach registry %s to read %s: %s. Check the address, the network path from this worker and any proxy settings (HTTPS_PROXY, NO_PROXY).", registry, ref, rootCause(err))
	default:
		e.Kind = KindInternal
		e.Message = fmt.Sprintf("Reading %s from registry %s failed: %s", ref, registry, err.Error())
	}
	return e
}

// integrityError is content whose digest or size is not the one asked for.
type integrityError struct{ msg string }

func (e *integrityError) Error() string { return e.msg }

// isIntegrityFailure recognises go-containerregistry's verification
// failures, which it returns as plain errors.
func isIntegrityFailure(err error) bool {
	msg := err.Error()
	for _, s := range []string{"does not match requested digest", "error verifying sha256 checksum", "error verifying size", "error verifying Digest", "error verifying Size", "does not match expected size"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// tlsVerificationError marks certificate failures raised by our own
// verification callbacks.
type tlsVerificationError struct{ err error }

func (e *tlsVerificationError) Error() string { return e.err.Error() }

func hasCode(terr *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range terr.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// rootCause returns the innermost error message, which is the readable part
// of a chain of wrapped network errors.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// Classify turns an error from go-containerregistry (possibly wrapped by
// another library) into an *Error that names the image and what to do.
func Classify(ref, registry string, err error) error { return classify(ref, registry, err) }
