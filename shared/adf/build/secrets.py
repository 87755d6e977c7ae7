"""Linked service secrets: what ADF's Publish does with ``encryptedCredential``.

The Git copy of a linked service never holds its secret: the UI stores it encrypted
(``encryptedCredential``) or masked (``{"type": "SecureString", "value": "**********"}``).
Publish drops ``encryptedCredential`` and turns the secret into a ``secureString`` template
parameter ``<linked service>_<property>`` without a default:

* a ``connectionString`` (or ``sasUri``) present in the JSON is replaced by
  ``[parameters('<ls>_connectionString')]`` (a plain string, as written);
* otherwise the type's secret property for its authentication (``password`` for a file
  server or SQL login, ``accountKey`` for ADLS Gen2 with a key, ``accessToken`` for
  Databricks, ``servicePrincipalCredential`` / ``servicePrincipalKey`` for a service
  principal, ...) is added as ``{"type": "SecureString", "value": "[parameters(...)]"}``.

Masked values of other secret properties are dropped, and so are empty strings in
``typeProperties`` (ADF's serializer leaves out unset properties).
"""

from __future__ import annotations

from typing import Any

from .params import Parameter, Parameters, param_ref

_STRING_SECRETS = ("connectionString", "sasUri")
# type -> secret property, by authentication
_BY_TYPE: dict[str, str] = {
    "fileserver": "password", "ftpserver": "password", "hdfs": "password", "httpserver": "password",
    "azuredatabricks": "accessToken", "azuredatabricksdeltalake": "accessToken",
    "amazons3": "secretAccessKey", "amazons3compatible": "secretAccessKey", "googlecloudstorage": "secretAccessKey",
    "oracle": "password", "oraclecloudstorage": "secretAccessKey", "mysql": "password", "postgresql": "password",
    "postgresqlv2": "password", "azurepostgresql": "password", "azuremysql": "password", "snowflakev2": "password",
    "saphana": "password", "saptable": "password", "sapbw": "password", "sapopenhub": "password",
    "sapecc": "password", "sapcloudforcustomer": "password", "teradata": "password", "db2": "password",
    "sybase": "password", "informix": "password", "mongodb": "password", "servicenow": "password",
    "odbc": "password", "salesforce": "password", "salesforceservicecloud": "password", "netezza": "password",
    "greenplum": "password", "vertica": "password", "impala": "password", "hive": "password", "spark": "password",
    "sharepointonlinelist": "servicePrincipalKey", "azuredatalakestore": "servicePrincipalKey",
    "azurefunction": "functionKey", "azuresearch": "key", "azurebatch": "accessKey", "cosmosdb": "accountKey",
    "azuretablestorage": "accountKey", "azurefilestorage": "password", "azuremlservice": "servicePrincipalKey",
    "office365": "servicePrincipalKey", "googlebigquery": "clientSecret", "restservice": "password",
    "odata": "password", "web": "password", "smartsheet": "apiToken", "zendesk": "apiToken",
}
_SQL = {"azuresqldatabase", "azuresqldw", "azuresqlmi", "sqlserver", "amazonrdsforsqlserver"}
_DYNAMICS = {"dynamics", "dynamicscrm", "commondataserviceforapps"}


def _blank(v: Any) -> bool:
    return v is None or v == ""


def secret_property(ls_type: str, tp: dict[str, Any]) -> str | None:
    """The property that ``encryptedCredential`` holds for this linked service type and authentication."""
    t = ls_type.lower()
    auth = str(tp.get("authenticationType") or "").lower()
    sp = not _blank(tp.get("servicePrincipalId"))
    if t in _SQL:
        if "serviceprincipal" in auth:
            return "servicePrincipalKey"
        if auth in ("", "sql", "basic") and (not _blank(tp.get("userName")) or auth == "sql"):
            return "password"
        return None
    if t in ("azureblobfs", "azureblobstorage"):
        if sp or "serviceprincipal" in auth:
            return "servicePrincipalKey"
        if auth in ("msi", "managedidentity", "userassignedmanagedidentity") or "credential" in tp:
            return None
        return "accountKey"
    if t in _DYNAMICS:
        if "serviceprincipal" in auth:
            cred_type = str(tp.get("servicePrincipalCredentialType") or "").lower()
            return None if cred_type == "servicecert" else "servicePrincipalCredential"
        return "password"
    if t == "sftp":
        return "privateKeyContent" if auth == "sshpublickey" else "password"
    if t == "restservice" and "serviceprincipal" in auth:
        return "servicePrincipalKey"
    if t in ("azuredatabricks", "azuredatabricksdeltalake") and auth == "msi":
        return None
    if t in _BY_TYPE:
        return _BY_TYPE[t]
    if any(not _blank(tp.get(k)) for k in ("userName", "username", "userId")):
        return "password"
    return None


def _masked(v: Any) -> bool:
    return isinstance(v, dict) and str(v.get("type", "")).lower() == "securestring"


def apply_secrets(name: str, props: dict[str, Any], params: Parameters, file: str) -> None:
    """Rewrite one linked service's properties in place: encrypted or masked secrets become parameters."""
    tp = props.get("typeProperties")
    if not isinstance(tp, dict):
        return
    for k in [k for k, v in tp.items() if v == ""]:
        del tp[k]
    encrypted = "encryptedCredential" in tp
    tp.pop("encryptedCredential", None)
    masked = [k for k, v in tp.items() if _masked(v)]
    if not encrypted and not masked:
        return
    ls_type = str(props.get("type") or "")
    strings = [k for k in _STRING_SECRETS if k in tp and (isinstance(tp[k], str) or _masked(tp[k]))]
    if encrypted and strings:
        for k in strings:
            tp[k] = params.add(_secret(name, k), file, f"$.properties.typeProperties.{k}")
        for k in masked:
            if k not in strings:
                del tp[k]
        return
    wanted = [k for k in masked if k not in _STRING_SECRETS]
    if encrypted:
        prop = secret_property(ls_type, tp)
        if prop and prop not in wanted and not isinstance(tp.get(prop), dict):
            wanted.append(prop)
    for k in strings:  # masked connection string without encryptedCredential
        tp[k] = params.add(_secret(name, k), file, f"$.properties.typeProperties.{k}")
    for k in wanted:
        ref = params.add(_secret(name, k), file, f"$.properties.typeProperties.{k}")
        tp[k] = {"type": "SecureString", "value": ref}


def _secret(ls: str, prop: str) -> Parameter:
    return Parameter(f"{ls}_{prop}", "secureString", None, False, f"Secure string for '{prop}' of '{ls}'", secret=True)


__all__ = ["apply_secrets", "param_ref", "secret_property"]
