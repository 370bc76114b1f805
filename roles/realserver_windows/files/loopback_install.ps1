# medimaging.pacs_lb.realserver_windows: install a Microsoft KM-TEST Loopback
# adapter with devcon.exe (Windows has no built-in command for it) and give it
# the role's connection name. Returns its PnP instance id so that
# state: absent can remove the device again.
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)][string]$Devcon,
    [Parameter(Mandatory)][string]$Name
)
$ErrorActionPreference = 'Stop'
$Ansible.Changed = $true
$Ansible.Result = @{ name = $Name; instance_id = '' }
if (-not $PSCmdlet.ShouldProcess($Name, 'devcon install netloop.inf *MSLOOP')) { return }

$known = @(Get-NetAdapter | ForEach-Object { $_.InterfaceGuid })
$inf = Join-Path -Path $env:windir -ChildPath 'inf\netloop.inf'
$out = & $Devcon install $inf '*MSLOOP' 2>&1
if ($LASTEXITCODE -ne 0) { throw "devcon install failed ($LASTEXITCODE): $out" }

$new = $null
foreach ($try in 1..20) {
    $new = Get-NetAdapter | Where-Object { $_.InterfaceGuid -notin $known -and
                                           $_.InterfaceDescription -like '*Loopback*' } | Select-Object -First 1
    if ($new) { break }
    Start-Sleep -Milliseconds 500
}
if (-not $new) { throw 'devcon reported success but no new loopback adapter appeared' }
Rename-NetAdapter -Name $new.Name -NewName $Name
$Ansible.Result = @{ name = $Name; instance_id = [string]$new.PnPDeviceID }
