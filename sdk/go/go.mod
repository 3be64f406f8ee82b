module github.com/hookd/hookd/sdk/go

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	github.com/hashicorp/go-retryablehttp v0.7.8
	github.com/hookd/hookd/gen v0.0.0-00010101000000-000000000000
	github.com/standard-webhooks/standard-webhooks/libraries v0.0.1
	github.com/stretchr/testify v1.12.1
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261012220534-4341edf3f941
	google.golang.org/protobuf v1.36.13-0.20261016172727-e9ee2a76ab8e
)

require (
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

// The generated code lives in this repository's gen/ module; releases tag gen/vX.Y.Z and point the
// requirement above at it (replace directives of a dependency are ignored by its users).
replace github.com/hookd/hookd/gen => ../../gen
