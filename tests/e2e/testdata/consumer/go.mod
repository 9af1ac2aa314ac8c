module e2e.example/consumer

go 1.22.0

require (
	github.com/google/uuid v1.6.0
	golang.org/x/mod v0.22.0
	rsc.io/quote/v3 v3.1.0
)

require (
	golang.org/x/text v0.0.0-20170915032832-14c0d48ead0c // indirect
	rsc.io/sampler v1.3.0 // indirect
)
