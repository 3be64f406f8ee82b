-- 0010_integration_auth: authenticated integrations (issue 24): HTTP Basic, OAuth2 client credentials or a TLS
-- client certificate.

-- auth is the integration's authentication ({"kind":"basic"|"oauth2_client_credentials"|"tls_client", …}); NULL
-- means none. Its secrets (password, client_secret, private_key_pem) are encrypted under the keyring like private
-- header values.
ALTER TABLE integrations ADD COLUMN auth TEXT;
