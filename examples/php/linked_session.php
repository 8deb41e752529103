<?php
/**
 * What the example scripts share: open the session named by WAOTP_SESSION
 * (default `my-session`) in WAOTP_DATA_DIR (./waotp-data) and, until it is
 * linked, show its QR code in the terminal (its raw payload also on a line
 * starting with `QR `; the PNG in WAOTP_QR_PNG, default qr.png). Exits
 * with status 1 when the session does not connect within two minutes.
 */

/** The connected session's WhatsAppOTP. */
function openLinkedSession()
{
    $options = ['dataDir' => getenv('WAOTP_DATA_DIR') ?: './waotp-data'];
    if (getenv('WAOTP_ENDPOINT')) {
        $options['endpoint'] = getenv('WAOTP_ENDPOINT');
    }
    $wa = new WhatsAppOTP(getenv('WAOTP_SESSION') ?: 'my-session', $options);
    $wa->createSession();

    $status = $wa->checkSessionStatus();
    if (!$status['success'] || !$status['data']['isConnected']) {
        $qr = $wa->getQR('terminal');
        if ($qr['success']) {
            echo "Scan this with WhatsApp (Linked devices -> Link a device):\n", $qr['data']['qr'], "\n";
            // The PNG before the raw line: once the phone scans, the session
            // offers no QR code any more, so a PNG asked for later could be too late.
            $wa->saveQRPng(getenv('WAOTP_QR_PNG') ?: 'qr.png', 0);
            $raw = $wa->getQR('raw', 0);
            if ($raw['success']) {
                echo 'QR ', $raw['data']['qr'], "\n";
            }
        }
        $connected = $wa->waitConnected(120000);
        if (!$connected['success']) {
            echo "Session not connected: {$connected['message']}\n";
            exit(1);
        }
    }
    echo "Session connected\n";
    return $wa;
}
