// OCI annotations (and compat config labels) from the GitHub context, like docker/metadata-action's defaults.
// Only stable facts are used: `created` comes from SOURCE_DATE_EPOCH, never the clock, so images stay reproducible.
import { rfc3339 } from './image/build.js';
import { Annotation } from './image/mediatypes.js';
import type { ImageReference } from './registry/reference.js';

interface ContextInput {
  env: NodeJS.ProcessEnv;
  tags: ImageReference[];
  sourceDateEpoch: number | undefined;
}

export function contextAnnotations({ env, tags, sourceDateEpoch }: ContextInput): Record<string, string> {
  const out: Record<string, string> = {};
  const repository = env.GITHUB_REPOSITORY?.trim();
  if (repository) {
    out[Annotation.source] = `${(env.GITHUB_SERVER_URL?.trim() || 'https://github.com').replace(/\/+$/, '')}/${repository}`;
  }
  if (env.GITHUB_SHA?.trim()) out[Annotation.revision] = env.GITHUB_SHA.trim();
  if (sourceDateEpoch !== undefined) out[Annotation.created] = rfc3339(sourceDateEpoch);
  const first = tags[0];
  if (first) out[Annotation.version] = first.tag;
  // The image's name: the GitHub repository's, else the first tag's (never the module's file name, which
  // would make the digest depend on how a build names its output).
  const title = repository?.split('/').pop() || first?.repository.split('/').pop();
  if (title) out[Annotation.title] = title;
  return out;
}
