# medimaging.pacs_lb.realserver_windows: take this host out of its Windows NLB
# cluster. Remove-NlbClusterNode stops NLB on the node first; when it is the
# last node, the cluster goes with it.
[CmdletBinding(SupportsShouldProcess)]
param()
$ErrorActionPreference = 'Stop'
Import-Module -Name NetworkLoadBalancingClusters
$node = Get-NlbClusterNode | Where-Object { $_.Name -eq $env:COMPUTERNAME } | Select-Object -First 1
$Ansible.Changed = [bool]$node
if ($node -and $PSCmdlet.ShouldProcess($env:COMPUTERNAME, 'Remove-NlbClusterNode')) {
    Remove-NlbClusterNode -HostName $env:COMPUTERNAME -InterfaceName $node.InterfaceName -Force
}
