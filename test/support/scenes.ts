// Hand-made scene objects for tests that grade, edit or score text against a scene graph.
import type { SceneObject } from "../../src/runtime/world/scene.ts";

/** A scene object described by its words (position center unless given); x, y and r are placeholders the tests do not read. */
export const obj = (
  size: SceneObject["size"],
  color: SceneObject["color"],
  shape: SceneObject["shape"],
  position: SceneObject["position"] = "center",
): SceneObject => ({ shape, color, size, position, x: 0.5, y: 0.5, r: 0.1 });
