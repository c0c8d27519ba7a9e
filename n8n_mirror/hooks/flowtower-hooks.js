/*
 * Flowtower's n8n external hook: when an execution ends, tell Flowtower which one, so it mirrors
 * that execution at once instead of at its next poll (which stays, as the safety net).
 *
 * In n8n's environment (docs/n8n-mirror.md, "Syncing within seconds: the external hook"):
 *   EXTERNAL_HOOK_FILES=/path/to/flowtower-hooks.js
 *   FLOWTOWER_URL=https://flowtower.example.com/api/v1/integrations/n8n/<instance id>/executions-finished
 *   FLOWTOWER_HOOK_TOKEN=ft_…   (a service token of the instance's team)
 *
 * Needs Node 18+ (built-in fetch). Never throws into n8n: a Flowtower that is down or slow costs
 * the execution at most TIMEOUT_MS and a warning in n8n's log.
 */
'use strict';

const TIMEOUT_MS = 3000;

async function notifyFlowtower(fullRunData, workflowData, executionId) {
  const url = process.env.FLOWTOWER_URL;
  const token = process.env.FLOWTOWER_HOOK_TOKEN;
  if (!url || !token || executionId === undefined || executionId === null) {
    return;
  }
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'Authorization': `Bearer ${token}`,
        'Content-Type': 'application/json',
        'User-Agent': 'Flowtower-n8n-hook/1.0',
      },
      body: JSON.stringify({
        executionId: String(executionId),
        workflowId: workflowData && workflowData.id !== undefined && workflowData.id !== null
          ? String(workflowData.id) : '',
      }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (!response.ok) {
      console.warn(`Flowtower hook: ${url} answered ${response.status} for execution ${executionId}`);
    }
  } catch (error) {
    console.warn(`Flowtower hook: could not reach ${url} for execution ${executionId}: ${error && error.message}`);
  }
}

module.exports = {
  workflow: {
    postExecute: [notifyFlowtower],
  },
};
