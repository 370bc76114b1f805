# medimaging.pacs_lb.realserver_windows: the DR VIPs as /32 on the loopback
# adapter, the weak host model that lets the service adapter accept traffic
# for them (receive) and the loopback answer from them (send), and a record of
# what was added and what the settings were, so that state absent restores
# exactly that. Idempotent; in check mode (-WhatIf) it only reports.
[CmdletBinding(SupportsShouldProcess)]
param(
    [ValidateSet('present', 'absent')][string]$State = 'present',
    [string]$LoopbackName,
    [string]$InstalledInstanceId = '',
    [string]$NicAlias = '',
    [string[]]$Vips = @(),
    [Parameter(Mandatory)][string]$StateFile,
    [string]$Devcon = ''
)
$ErrorActionPreference = 'Stop'
$changed = $false

$record = $null
if (Test-Path -LiteralPath $StateFile) {
    $record = Get-Content -LiteralPath $StateFile -Raw | ConvertFrom-Json
}
$owned = @(if ($record -and $record.vips) { $record.vips })

function Get-Setting([int]$Index) {
    $i = Get-NetIPInterface -InterfaceIndex $Index -AddressFamily IPv4
    $d = Get-DnsClient -InterfaceIndex $Index -ErrorAction SilentlyContinue
    $dns = $null
    if ($d) { $dns = [bool]$d.RegisterThisConnectionsAddress }
    @{ weak_host_receive = [string]$i.WeakHostReceive; weak_host_send = [string]$i.WeakHostSend; register_dns = $dns }
}

function Set-Setting([int]$Index, [string]$Label, [hashtable]$Wanted) {
    $now = Get-Setting $Index
    $done = $false
    foreach ($key in 'weak_host_receive', 'weak_host_send') {
        if ($Wanted.ContainsKey($key) -and $Wanted[$key] -and $now[$key] -ne $Wanted[$key]) {
            if ($PSCmdlet.ShouldProcess($Label, "$key=$($Wanted[$key])")) {
                if ($key -eq 'weak_host_receive') {
                    Set-NetIPInterface -InterfaceIndex $Index -AddressFamily IPv4 -WeakHostReceive $Wanted[$key]
                } else {
                    Set-NetIPInterface -InterfaceIndex $Index -AddressFamily IPv4 -WeakHostSend $Wanted[$key]
                }
            }
            $done = $true
        }
    }
    if ($Wanted.ContainsKey('register_dns') -and $null -ne $Wanted['register_dns'] -and
        $null -ne $now['register_dns'] -and $now['register_dns'] -ne $Wanted['register_dns']) {
        if ($PSCmdlet.ShouldProcess($Label, "RegisterThisConnectionsAddress=$($Wanted['register_dns'])")) {
            Set-DnsClient -InterfaceIndex $Index -RegisterThisConnectionsAddress $Wanted['register_dns']
        }
        $done = $true
    }
    return $done
}

$lo = if ($LoopbackName) { Get-NetAdapter -Name $LoopbackName -ErrorAction SilentlyContinue } else { $null }
$nic = if ($NicAlias) { Get-NetAdapter -Name $NicAlias -ErrorAction SilentlyContinue } else { $null }
$have = @(if ($lo) {
    Get-NetIPAddress -InterfaceIndex $lo.ifIndex -AddressFamily IPv4 -ErrorAction SilentlyContinue |
        ForEach-Object { [string]$_.IPAddress }
})
$before = @{ vips = $have; loopback = $null; nic = $null }
if ($lo) { $before.loopback = Get-Setting $lo.ifIndex }
if ($nic) { $before.nic = Get-Setting $nic.ifIndex }

if ($State -eq 'present') {
    if (-not $lo) {
        # Only reachable in check mode, right after a loopback install that did not run.
        if ($WhatIfPreference) { $Ansible.Changed = $true; return }
        throw "loopback adapter '$LoopbackName' not found"
    }
    if (-not $nic) { throw "service adapter '$NicAlias' not found" }

    # Record first: what was on the host before the first run is never lost.
    $loBefore = $before.loopback
    if ($record -and $record.loopback_before) { $loBefore = $record.loopback_before }
    $instanceId = $InstalledInstanceId
    if (-not $instanceId -and $record -and $record.loopback_instance_id) { $instanceId = [string]$record.loopback_instance_id }
    $nicBefore = $before.nic
    if ($record -and $record.nic_before -and $record.nic_name -eq $nic.Name) { $nicBefore = $record.nic_before }
    $newRecord = [ordered]@{
        version = 1
        vips = @($Vips | Where-Object { $_ -in $owned -or $_ -notin $have })
        loopback_name = [string]$lo.Name
        loopback_before = $loBefore
        loopback_instance_id = $instanceId
        nic_name = [string]$nic.Name
        nic_before = $nicBefore
    }
    $json = $newRecord | ConvertTo-Json -Depth 4
    $old = if (Test-Path -LiteralPath $StateFile) { Get-Content -LiteralPath $StateFile -Raw } else { '' }
    if ($old.Trim() -ne $json.Trim()) {
        if ($PSCmdlet.ShouldProcess($StateFile, 'write record')) {
            New-Item -ItemType Directory -Force -Path (Split-Path -Parent $StateFile) | Out-Null
            Set-Content -LiteralPath $StateFile -Value $json -Encoding UTF8
        }
        $changed = $true
    }

    # Weak host before the VIPs: the adapter must accept VIP traffic as soon as it is routed here.
    if (Set-Setting $nic.ifIndex $nic.Name @{ weak_host_receive = 'Enabled' }) { $changed = $true }
    if (Set-Setting $lo.ifIndex $lo.Name @{ weak_host_receive = 'Enabled'; weak_host_send = 'Enabled'; register_dns = $false }) {
        $changed = $true
    }

    foreach ($ip in $owned) {
        if ($ip -notin $Vips -and $ip -in $have) {
            if ($PSCmdlet.ShouldProcess("$ip on $($lo.Name)", 'Remove-NetIPAddress')) {
                Remove-NetIPAddress -InterfaceIndex $lo.ifIndex -IPAddress $ip -Confirm:$false
            }
            $changed = $true
        }
    }
    foreach ($ip in $Vips) {
        if ($ip -notin $have) {
            # SkipAsSource: the host must never pick a VIP for its own outgoing connections.
            if ($PSCmdlet.ShouldProcess("$ip/32 on $($lo.Name)", 'New-NetIPAddress')) {
                New-NetIPAddress -InterfaceIndex $lo.ifIndex -IPAddress $ip -PrefixLength 32 -SkipAsSource $true | Out-Null
            }
            $changed = $true
        }
    }
} else {
    if ($lo) {
        foreach ($ip in $owned) {
            if ($ip -in $have) {
                if ($PSCmdlet.ShouldProcess("$ip on $($lo.Name)", 'Remove-NetIPAddress')) {
                    Remove-NetIPAddress -InterfaceIndex $lo.ifIndex -IPAddress $ip -Confirm:$false
                }
                $changed = $true
            }
        }
    }
    if ($record) {
        $nicBack = if ($record.nic_name) { Get-NetAdapter -Name $record.nic_name -ErrorAction SilentlyContinue } else { $null }
        if ($nicBack -and $record.nic_before) {
            if (Set-Setting $nicBack.ifIndex $nicBack.Name @{ weak_host_receive = [string]$record.nic_before.weak_host_receive }) {
                $changed = $true
            }
        }
        $loBack = if ($record.loopback_name) { Get-NetAdapter -Name $record.loopback_name -ErrorAction SilentlyContinue } else { $null }
        if ($record.loopback_instance_id -and $loBack) {
            # The role installed this adapter: remove the device itself.
            if (-not $Devcon) { throw "the loopback adapter was installed by the role; set realserver_windows_devcon to remove it" }
            if ($PSCmdlet.ShouldProcess($record.loopback_name, 'devcon remove')) {
                $out = & $Devcon remove "@$($record.loopback_instance_id)" 2>&1
                if ($LASTEXITCODE -ne 0) { throw "devcon remove failed ($LASTEXITCODE): $out" }
            }
            $changed = $true
        } elseif ($loBack -and $record.loopback_before) {
            $wanted = @{
                weak_host_receive = [string]$record.loopback_before.weak_host_receive
                weak_host_send = [string]$record.loopback_before.weak_host_send
                register_dns = $record.loopback_before.register_dns
            }
            if (Set-Setting $loBack.ifIndex $loBack.Name $wanted) { $changed = $true }
        }
        if ($PSCmdlet.ShouldProcess($StateFile, 'remove record')) {
            Remove-Item -LiteralPath $StateFile -Force
        }
        $changed = $true
    }
}

$after = @{ vips = $Vips; state = $State }
$Ansible.Changed = $changed
$Ansible.Diff = @{ before = $before; after = $after }
$Ansible.Result = @{ loopback = $LoopbackName; nic = $NicAlias; vips = $Vips }
