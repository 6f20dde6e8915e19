#!/usr/bin/env bash
# Grants Custody's service principal exactly what it needs in YOUR Azure tenant, and prints
# the body for `PUT /v1/tenants/{t}/storage`:
#   - "Storage Blob Data Contributor" on one blob container (not the account),
#   - "Key Vault Crypto Service Encryption User" on one Key Vault key (not the vault), or, for a Managed HSM,
#     the local RBAC role "Managed HSM Crypto User" on /keys/<name>.
# The storage account, container and key must exist already (see docs/azure-setup.md);
# nothing else is created except the app registration, its service principal and credential.
#
# Safe to run again: existing app registrations, service principals and role assignments are
# reused. Each run adds a NEW client secret (Entra never shows an old one again) unless
# CLIENT_SECRET is given, or a certificate credential is used.
#
# Needs: az (logged in as someone who may create app registrations and assign roles,
# e.g. Owner or User Access Administrator on the container and key), jq, openssl (certificates).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: policies/azure/setup.sh [options]   (each option can also be given as the env var shown)

Required:
  --storage-account NAME   STORAGE_ACCOUNT    storage account holding the container
  --container NAME         CONTAINER          blob container for the recordings
  --key-name NAME          KEY_NAME           the RSA (or Managed HSM) key wrapping data keys
  --key-vault NAME         KEY_VAULT          the key's vault ... or:
  --managed-hsm NAME       MANAGED_HSM        ... the key's Managed HSM (exactly one of the two)
Optional:
  --prefix PREFIX          PREFIX             blob name prefix for Custody's objects (e.g. custody)
  --resource-group NAME    STORAGE_RESOURCE_GROUP  the storage account's group (default: looked up)
  --app-id GUID            APP_ID             use this existing app registration (client id)
  --app-name NAME          APP_NAME           display name to find or create (default custody-recordings)
  --credential KIND        CREDENTIAL         secret (default) | certificate
  --cert-pem-file FILE     CERT_PEM_FILE      certificate + private key PEM (certificate; default: a new
                                              self-signed one, made here with openssl)
  --secret-years N         SECRET_YEARS       lifetime of a new client secret (default 1)
                           CLIENT_SECRET      reuse this secret instead of adding a new one
  --subscription ID        SUBSCRIPTION       az subscription to use (default: the current one)
  --out FILE               OUT                write the PUT body there (mode 600) instead of stdout
  --allow-access-policy    ALLOW_ACCESS_POLICY=1  for a vault without RBAC: grant get/wrapKey/unwrapKey
                                              with an access policy (vault-wide; RBAC is preferred)
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --storage-account) STORAGE_ACCOUNT=$2; shift 2 ;;
    --container) CONTAINER=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --resource-group) STORAGE_RESOURCE_GROUP=$2; shift 2 ;;
    --key-vault) KEY_VAULT=$2; shift 2 ;;
    --managed-hsm) MANAGED_HSM=$2; shift 2 ;;
    --key-name) KEY_NAME=$2; shift 2 ;;
    --app-id) APP_ID=$2; shift 2 ;;
    --app-name) APP_NAME=$2; shift 2 ;;
    --credential) CREDENTIAL=$2; shift 2 ;;
    --cert-pem-file) CERT_PEM_FILE=$2; shift 2 ;;
    --secret-years) SECRET_YEARS=$2; shift 2 ;;
    --subscription) SUBSCRIPTION=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --allow-access-policy) ALLOW_ACCESS_POLICY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

STORAGE_ACCOUNT=${STORAGE_ACCOUNT:-}
CONTAINER=${CONTAINER:-}
PREFIX=${PREFIX:-}
STORAGE_RESOURCE_GROUP=${STORAGE_RESOURCE_GROUP:-}
KEY_VAULT=${KEY_VAULT:-}
MANAGED_HSM=${MANAGED_HSM:-}
KEY_NAME=${KEY_NAME:-}
APP_ID=${APP_ID:-}
APP_NAME=${APP_NAME:-custody-recordings}
CREDENTIAL=${CREDENTIAL:-secret}
CERT_PEM_FILE=${CERT_PEM_FILE:-}
SECRET_YEARS=${SECRET_YEARS:-1}
CLIENT_SECRET=${CLIENT_SECRET:-}
SUBSCRIPTION=${SUBSCRIPTION:-}
OUT=${OUT:-}
ALLOW_ACCESS_POLICY=${ALLOW_ACCESS_POLICY:-0}

# Progress goes to stderr, so that stdout is only the PUT body (it holds the credential).
log() { echo "setup.sh: $*" >&2; }
die() { echo "setup.sh: error: $*" >&2; exit 1; }

for tool in az jq; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[[ -n $STORAGE_ACCOUNT ]] || die "--storage-account (STORAGE_ACCOUNT) is required"
[[ -n $CONTAINER ]] || die "--container (CONTAINER) is required"
[[ -n $KEY_NAME ]] || die "--key-name (KEY_NAME) is required"
[[ -n $KEY_VAULT || -n $MANAGED_HSM ]] || die "give --key-vault or --managed-hsm"
[[ -z $KEY_VAULT || -z $MANAGED_HSM ]] || die "give --key-vault or --managed-hsm, not both"
[[ $CREDENTIAL == secret || $CREDENTIAL == certificate ]] || die "--credential is secret or certificate"
# Custody refuses other prefixes: they end up in paths and scopes where * and ? are wildcards.
if [[ -n $PREFIX && ! $PREFIX =~ ^[A-Za-z0-9!_.\'()=-]+(/[A-Za-z0-9!_.\'()=-]+)*/?$ ]]; then
  die "prefix: path segments of letters, digits and !_.'()=- only"
fi

if [[ -n $SUBSCRIPTION ]]; then az account set --subscription "$SUBSCRIPTION"; fi
ENTRA_TENANT_ID=$(az account show --query tenantId -o tsv)
log "Entra tenant $ENTRA_TENANT_ID, subscription $(az account show --query name -o tsv)"

# --- The container (must exist: Custody never creates it) --------------------------------
rg_args=()
if [[ -n $STORAGE_RESOURCE_GROUP ]]; then rg_args=(--resource-group "$STORAGE_RESOURCE_GROUP"); fi
ACCOUNT_JSON=$(az storage account show --name "$STORAGE_ACCOUNT" "${rg_args[@]}" -o json) ||
  die "storage account $STORAGE_ACCOUNT not found in this subscription"
ACCOUNT_ID=$(jq -r .id <<<"$ACCOUNT_JSON")
ACCOUNT_URL=$(jq -r '.primaryEndpoints.blob | sub("/+$"; "")' <<<"$ACCOUNT_JSON")
STORAGE_RESOURCE_GROUP=$(jq -r .resourceGroup <<<"$ACCOUNT_JSON")
az storage container-rm show --storage-account "$ACCOUNT_ID" --name "$CONTAINER" -o none 2>/dev/null ||
  die "container $CONTAINER does not exist in $STORAGE_ACCOUNT (create it first)"
CONTAINER_SCOPE="$ACCOUNT_ID/blobServices/default/containers/$CONTAINER"

# --- The key ------------------------------------------------------------------------------
if [[ -n $KEY_VAULT ]]; then
  VAULT_JSON=$(az keyvault show --name "$KEY_VAULT" -o json) || die "key vault $KEY_VAULT not found"
  KEY_JSON=$(az keyvault key show --vault-name "$KEY_VAULT" --name "$KEY_NAME" -o json) ||
    die "key $KEY_NAME not found in vault $KEY_VAULT (or you may not read it)"
else
  KEY_JSON=$(az keyvault key show --hsm-name "$MANAGED_HSM" --name "$KEY_NAME" -o json) ||
    die "key $KEY_NAME not found in Managed HSM $MANAGED_HSM (or you may not read it)"
fi
KTY=$(jq -r .key.kty <<<"$KEY_JSON")
case "$KTY" in
  RSA | RSA-HSM | oct-HSM) ;;
  *) die "key $KEY_NAME is $KTY: use an RSA key (2048 bits or more), or an AES key in a Managed HSM" ;;
esac
# An empty key_ops list allows every operation; a non-empty one must name both.
if ! jq -e '(.key.keyOps // []) as $ops | ($ops | length) == 0 or (($ops | index("wrapKey")) and ($ops | index("unwrapKey")))' \
  <<<"$KEY_JSON" >/dev/null; then
  die "key $KEY_NAME does not allow wrapKey and unwrapKey (az keyvault key set-attributes --ops wrapKey unwrapKey)"
fi
[[ $(jq -r '.attributes.enabled' <<<"$KEY_JSON") == true ]] || die "key $KEY_NAME is disabled"
# Without the version: Custody resolves the current version at registration and records the
# version used in every object, so older objects stay readable after a rotation.
KEY_ID=$(jq -r '.key.kid | sub("/[0-9a-fA-F]{32}$"; "")' <<<"$KEY_JSON")

# --- The app registration and its service principal ----------------------------------------
if [[ -z $APP_ID ]]; then
  APP_ID=$(az ad app list --display-name "$APP_NAME" --query '[0].appId' -o tsv)
  if [[ -z $APP_ID ]]; then
    log "creating app registration $APP_NAME (single tenant)"
    APP_ID=$(az ad app create --display-name "$APP_NAME" --sign-in-audience AzureADMyOrg --query appId -o tsv)
  else
    log "reusing app registration $APP_NAME ($APP_ID)"
  fi
fi
SP_OBJECT_ID=$(az ad sp show --id "$APP_ID" --query id -o tsv 2>/dev/null || true)
if [[ -z $SP_OBJECT_ID ]]; then
  log "creating the service principal of $APP_ID"
  SP_OBJECT_ID=$(az ad sp create --id "$APP_ID" --query id -o tsv)
fi

# --- Role assignments, at the container and key scopes only -----------------------------------
assign_arm_role() { # role scope
  local count
  count=$(az role assignment list --assignee "$SP_OBJECT_ID" --role "$1" --scope "$2" --query 'length(@)' -o tsv)
  if [[ $count == 0 ]]; then
    log "assigning \"$1\" on $2"
    az role assignment create --assignee-object-id "$SP_OBJECT_ID" --assignee-principal-type ServicePrincipal \
      --role "$1" --scope "$2" -o none
  else
    log "\"$1\" on $2 is already assigned"
  fi
}

assign_arm_role "Storage Blob Data Contributor" "$CONTAINER_SCOPE"

if [[ -n $KEY_VAULT ]]; then
  if [[ $(jq -r '.properties.enableRbacAuthorization' <<<"$VAULT_JSON") == true ]]; then
    assign_arm_role "Key Vault Crypto Service Encryption User" "$(jq -r .id <<<"$VAULT_JSON")/keys/$KEY_NAME"
  elif [[ $ALLOW_ACCESS_POLICY == 1 ]]; then
    log "vault $KEY_VAULT uses access policies: granting get, wrapKey, unwrapKey on all of its keys"
    az keyvault set-policy --name "$KEY_VAULT" --object-id "$SP_OBJECT_ID" \
      --key-permissions get wrapKey unwrapKey -o none
  else
    die "vault $KEY_VAULT uses access policies, which cannot be limited to one key. Switch it to Azure RBAC
(az keyvault update --name $KEY_VAULT --enable-rbac-authorization true) or rerun with --allow-access-policy."
  fi
else
  count=$(az keyvault role assignment list --hsm-name "$MANAGED_HSM" --scope "/keys/$KEY_NAME" \
    --assignee "$SP_OBJECT_ID" --role "Managed HSM Crypto User" --query 'length(@)' -o tsv)
  if [[ $count == 0 ]]; then
    log "assigning \"Managed HSM Crypto User\" on /keys/$KEY_NAME in $MANAGED_HSM"
    az keyvault role assignment create --hsm-name "$MANAGED_HSM" --role "Managed HSM Crypto User" \
      --scope "/keys/$KEY_NAME" --assignee-object-id "$SP_OBJECT_ID" --assignee-principal-type ServicePrincipal -o none
  else
    log "\"Managed HSM Crypto User\" on /keys/$KEY_NAME is already assigned"
  fi
fi

# --- The credential (only ever shown here, and sent once to Custody) ------------------------
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
umask 077
if [[ $CREDENTIAL == secret ]]; then
  if [[ -z $CLIENT_SECRET ]]; then
    log "adding a client secret valid for $SECRET_YEARS year(s)"
    CLIENT_SECRET=$(az ad app credential reset --id "$APP_ID" --append --display-name "custody $(date -u +%F)" \
      --years "$SECRET_YEARS" --query password -o tsv)
  fi
  jq -n --arg secret "$CLIENT_SECRET" '{clientSecret: $secret}' >"$WORK/credential.json"
else
  command -v openssl >/dev/null || die "openssl is not installed"
  if [[ -z $CERT_PEM_FILE ]]; then
    log "making a self-signed certificate (RSA 3072, 1 year) for $APP_NAME"
    CERT_PEM_FILE="$WORK/custody-app.pem"
    openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=$APP_NAME" \
      -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
    cat "$WORK/cert.pem" "$WORK/key.pem" >"$CERT_PEM_FILE"
  fi
  grep -q 'PRIVATE KEY-----' "$CERT_PEM_FILE" || die "$CERT_PEM_FILE must hold the certificate AND its private key"
  openssl x509 -in "$CERT_PEM_FILE" -out "$WORK/public.pem"
  # Only the public certificate goes to Entra; the private key goes to Custody alone.
  log "adding the certificate to $APP_ID"
  az ad app credential reset --id "$APP_ID" --append --cert "@$WORK/public.pem" -o none
  jq -n --rawfile pem "$CERT_PEM_FILE" '{clientCertificatePem: $pem}' >"$WORK/credential.json"
fi

BODY=$(jq -n \
  --arg accountUrl "$ACCOUNT_URL" --arg container "$CONTAINER" --arg prefix "$PREFIX" --arg keyId "$KEY_ID" \
  --arg tenant "$ENTRA_TENANT_ID" --arg clientId "$APP_ID" --slurpfile credential "$WORK/credential.json" \
  '{provider: "azure-blob", accountUrl: $accountUrl, container: $container}
   + (if $prefix == "" then {} else {prefix: $prefix} end)
   + {keyId: $keyId, credential: ({entraTenantId: $tenant, clientId: $clientId} + $credential[0])}')

if [[ -n $OUT ]]; then
  printf '%s\n' "$BODY" >"$OUT"
  log "wrote the PUT body to $OUT (it holds the credential: delete it once registered)"
else
  printf '%s\n' "$BODY"
fi
log "done. Role assignments can take a few minutes to apply: if the handshake fails with"
log "AuthorizationPermissionMismatch or ForbiddenByRbac right away, wait and PUT again."
