// Hash routing: "#/train" and friends. Hashes keep the static build working from any host and any
// sub-folder, with no server rewrite rules.

export const PAGES = [
  { id: 'data', label: 'Data', hint: 'synth curriculum, imports, curation' },
  { id: 'train', label: 'Train', hint: 'SFT and GRPO runs' },
  { id: 'rollouts', label: 'Rollouts', hint: 'inspect GRPO groups' },
  { id: 'evaluate', label: 'Evaluate', hint: 'benchmarks beside the paper' },
  { id: 'ask', label: 'Ask', hint: 'question a model about an image' },
  { id: 'models', label: 'Models', hint: 'checkpoints, pretrained VLMs' },
] as const;

export type PageId = (typeof PAGES)[number]['id'];

export const DEFAULT_PAGE: PageId = 'data';

/** The page a location hash names; unknown or empty hashes go to the default page. */
export function pageFromHash(hash: string): PageId {
  const id = hash.replace(/^#\/?/, '').split(/[/?]/)[0].toLowerCase();
  return PAGES.find((p) => p.id === id)?.id ?? DEFAULT_PAGE;
}

export const hashOf = (page: PageId) => `#/${page}`;
