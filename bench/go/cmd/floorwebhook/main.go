// Command floorwebhook is the floor of the admission benchmark: a mutating webhook that reads the
// AdmissionReview, allows it and patches nothing. Whatever a webhook costs a Pod creation beyond
// this is the webhook's own doing. With -patch FILE it returns that fixed patch instead, which
// shows what applying a patch costs the API server whoever computes it.
//
// It serves HTTP/1.1 only, as controller-runtime webhooks do by default since CVE-2023-44487
// (kubebuilder scaffolds disable HTTP/2), and as the Python webhook it is compared with does, so
// the comparison is of the webhooks, not of the protocols.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
)

type review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *request  `json:"request,omitempty"`
	Response   *response `json:"response,omitempty"`
}

type request struct {
	UID    string          `json:"uid"`
	Object json.RawMessage `json:"object"`
}

type response struct {
	UID       string `json:"uid"`
	Allowed   bool   `json:"allowed"`
	PatchType string `json:"patchType,omitempty"`
	Patch     []byte `json:"patch,omitempty"` // encoding/json writes []byte as base64
}

// fixedPatch, when set (-patch FILE), is returned for every request: the benchmark uses it to
// measure what applying a patch of a given size costs the API server, apart from any webhook.
var fixedPatch []byte

func handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in review
	if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	out := review{
		APIVersion: "admission.k8s.io/v1",
		Kind:       "AdmissionReview",
		Response:   &response{UID: in.Request.UID, Allowed: true},
	}
	if fixedPatch != nil {
		out.Response.PatchType = "JSONPatch"
		out.Response.Patch = fixedPatch
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		log.Printf("writing the response: %v", err)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9444", "listen address")
	cert := flag.String("cert", "tls.crt", "certificate file")
	key := flag.String("key", "tls.key", "key file")
	patch := flag.String("patch", "", "a JSON Patch file to return with every answer (default: none)")
	flag.Parse()
	if *patch != "" {
		var err error
		if fixedPatch, err = os.ReadFile(*patch); err != nil {
			log.Fatal(err)
		}
	}
	server := &http.Server{
		Addr:         *addr,
		Handler:      http.HandlerFunc(handle),
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only
	}
	log.Printf("floor webhook on https://%s", *addr)
	log.Fatal(server.ListenAndServeTLS(*cert, *key))
}
