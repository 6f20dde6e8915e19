// Custody's access to a tenant's Azure resources: two role assignments for Custody's
// service principal (the app registration in the tenant's own Entra tenant), each at the
// narrowest scope that works:
//   - Storage Blob Data Contributor on ONE blob container (not the account),
//   - Key Vault Crypto Service Encryption User on ONE key (not the vault; the vault must use Azure RBAC).
// Nothing else is created or changed. Deploy to the resource group holding the storage
// account and the vault; when they live in different groups, deploy once to each with the
// other assignment switched off (assignBlobRole / assignKeyRole). A Managed HSM key uses the
// HSM's local RBAC, which ARM does not manage: use setup.sh (or az keyvault role assignment).
//
//   az deployment group create -g <group> -f policies/azure/custody-access.bicep \
//     -p principalId=<service principal object id> storageAccountName=<account> \
//        containerName=<container> keyVaultName=<vault> keyName=<key>

@description('Object id of Custody\'s service principal in your tenant (az ad sp show --id <client id> --query id).')
param principalId string

@description('Storage account holding the recordings container.')
param storageAccountName string = ''

@description('Blob container for the recordings (must exist).')
param containerName string = ''

@description('Key Vault holding the wrapping key (Azure RBAC permission model).')
param keyVaultName string = ''

@description('Name of the RSA key (2048 bits or more, operations wrapKey and unwrapKey).')
param keyName string = ''

@description('Assign Storage Blob Data Contributor on the container (off when the account is in another group).')
param assignBlobRole bool = true

@description('Assign Key Vault Crypto Service Encryption User on the key (off when the vault is in another group).')
param assignKeyRole bool = true

// Built-in role definition ids (the same in every Azure cloud).
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var keyVaultCryptoServiceEncryptionUser = 'e147488a-f6f5-4113-8e2d-b22465e65bf6'

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = if (assignBlobRole) {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = if (assignBlobRole) {
  parent: storageAccount
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = if (assignBlobRole) {
  parent: blobService
  name: containerName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = if (assignKeyRole) {
  name: keyVaultName
}

resource key 'Microsoft.KeyVault/vaults/keys@2023-07-01' existing = if (assignKeyRole) {
  parent: vault
  name: keyName
}

// Names are deterministic (scope, principal, role), so deploying again changes nothing.
resource blobRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignBlobRole) {
  name: guid(container.id, principalId, storageBlobDataContributor)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    // Skips the directory lookup that fails while a new service principal is still replicating.
    principalType: 'ServicePrincipal'
    description: 'Custody: write, read and delete call recordings in this container only'
  }
}

resource keyRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignKeyRole) {
  name: guid(key.id, principalId, keyVaultCryptoServiceEncryptionUser)
  scope: key
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoServiceEncryptionUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Custody: wrap and unwrap recording data keys with this key only'
  }
}

output containerScope string = assignBlobRole ? container.id : ''
output keyScope string = assignKeyRole ? key.id : ''
