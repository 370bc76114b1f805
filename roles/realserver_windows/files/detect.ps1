# medimaging.pacs_lb.realserver_windows: read-only inventory of Windows NLB and
# of the adapters the DR set-up uses. SupportsShouldProcess makes
# win_powershell run it in check mode too; it changes nothing.
[CmdletBinding(SupportsShouldProcess)]
param(
    [string]$HostAddress = '',
    [string]$InterfaceAlias = '',
    [string]$LoopbackName,
    [string]$FeatureName = 'NLB',
    [string]$FirewallGroup
)
$ErrorActionPreference = 'Stop'
$Ansible.Changed = $false

# Windows client editions have no Get-WindowsFeature (ServerManager module).
$feature = 'Unknown'
if (Get-Command -Name Get-WindowsFeature -ErrorAction SilentlyContinue) {
    $f = Get-WindowsFeature -Name $FeatureName -ErrorAction SilentlyContinue
    $feature = if ($f) { [string]$f.InstallState } else { 'NotPresent' }
}

$bindings = @(
    Get-NetAdapterBinding -ComponentID ms_wlbs -ErrorAction SilentlyContinue |
        ForEach-Object { @{ name = [string]$_.Name; enabled = [bool]$_.Enabled } }
)

# The NLB cmdlets exist only where the NLB management tools are installed.
$cluster = $null
if (Get-Module -ListAvailable -Name NetworkLoadBalancingClusters) {
    Import-Module -Name NetworkLoadBalancingClusters
    $c = $null
    try { $c = Get-NlbCluster -ErrorAction Stop } catch { $c = $null }
    if ($c) {
        $nodes = @(Get-NlbClusterNode -ErrorAction SilentlyContinue)
        $local = $nodes | Where-Object { $_.Name -eq $env:COMPUTERNAME } | Select-Object -First 1
        $localState = ''
        if ($local) { $localState = [string]$local.State }
        $cluster = @{
            name = [string]$c.Name
            ip = [string]$c.IPAddress
            nodes = @($nodes | ForEach-Object { [string]$_.Name })
            local_node = [bool]$local
            local_state = $localState
        }
    }
}

# 'Microsoft KM-TEST Loopback Adapter' since Windows 8 / Server 2012,
# 'Microsoft Loopback Adapter' before.
$loopbacks = @(
    Get-NetAdapter -ErrorAction SilentlyContinue |
        Where-Object { $_.InterfaceDescription -like 'Microsoft KM-TEST Loopback Adapter*' -or
                       $_.InterfaceDescription -like 'Microsoft Loopback Adapter*' } |
        ForEach-Object { @{ name = [string]$_.Name; index = [int]$_.ifIndex; description = [string]$_.InterfaceDescription } }
)
$loopback = $loopbacks | Where-Object { $_.name -eq $LoopbackName } | Select-Object -First 1
if (-not $loopback -and $loopbacks.Count -eq 1) { $loopback = $loopbacks[0] }

$nic = $null
if ($InterfaceAlias) {
    $a = Get-NetAdapter -Name $InterfaceAlias -ErrorAction SilentlyContinue
    if ($a) { $nic = @{ name = [string]$a.Name; index = [int]$a.ifIndex } }
} elseif ($HostAddress) {
    $ip = Get-NetIPAddress -IPAddress $HostAddress -AddressFamily IPv4 -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($ip) { $nic = @{ name = [string]$ip.InterfaceAlias; index = [int]$ip.InterfaceIndex } }
}

$rules = @(
    Get-NetFirewallRule -Group $FirewallGroup -ErrorAction SilentlyContinue |
        ForEach-Object { [string]$_.DisplayName }
)

$Ansible.Result = @{
    nlb_feature = $feature
    nlb_bindings = $bindings
    nlb_cluster = $cluster
    loopbacks = $loopbacks
    loopback = $loopback
    nic = $nic
    firewall_rules = $rules
}
