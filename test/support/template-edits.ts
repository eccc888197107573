/** Edits of a synthesized template for tests that prove what the local run enforces (IAM, alarms). */

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}
interface Statement {
  Action: string | string[];
  Resource?: unknown;
}

/**
 * Removes `action` from every identity policy attached to the role of the function bundled from `entry`;
 * with `onResource`, only from the statements whose resources name it (a logical id, e.g. a table's).
 */
export function withoutAction(
  template: Record<string, unknown>,
  entry: string,
  action: string,
  onResource?: string,
): void {
  const resources = Object.values(template.Resources as Record<string, Resource>);
  const fn = resources.find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.['llmops:entry'] === entry,
  );
  const role = fn?.Properties?.Role as { 'Fn::GetAtt': [string, string] } | undefined;
  const roleId = role?.['Fn::GetAtt'][0];
  if (roleId === undefined) throw new Error(`No function with a template role bundled from ${entry}`);
  let removed = 0;
  for (const policy of resources.filter((r) => r.Type === 'AWS::IAM::Policy')) {
    const props = policy.Properties as {
      Roles: Array<{ Ref?: string }>;
      PolicyDocument: { Statement: Statement[] };
    };
    if (!props.Roles.some((role) => role.Ref === roleId)) continue;
    for (const statement of props.PolicyDocument.Statement) {
      if (onResource !== undefined && !JSON.stringify(statement.Resource).includes(onResource)) continue;
      const actions = [statement.Action].flat();
      statement.Action = actions.filter((a) => a !== action);
      removed += actions.length - statement.Action.length;
    }
    props.PolicyDocument.Statement = props.PolicyDocument.Statement.filter((s) => s.Action.length > 0);
  }
  if (removed === 0) throw new Error(`The role of ${entry} has no ${action} to remove`);
}
